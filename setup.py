"""Installation script for tfrobust."""
from setuptools import find_packages, setup

setup(
    name="tfrobust",
    version="0.1.0",
    description="Adversarial robustness for TensorFlow 2 / Keras: attacks, hardening and honest evaluation.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["tfrobust", "tfrobust.*"]),
    python_requires=">=3.10,<3.13",
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "tf-keras>=2.21,<2.22",
        "tensorflow-model-optimization>=0.8,<0.9",
        "scipy",  # Welch t-test of the seed-study verdicts (tfrobust.studies.verdicts); tfmot needs it too
        "tensorboard",
        "importlib_resources",  # tensorflow-datasets downloads fail without it (tensorflow/datasets#11212)
        "tensorflow-datasets",
        "numpy",
        "absl-py",
        "matplotlib",
        "mlxtend",
        "scikit-learn",  # the offline photographs and 8x8 digits of the domain-adaptation domains
    ],
    extras_require={
        # lint-imports checks the layers of setup.cfg; faiss-cpu and dp-accounting so that the Deep k-NN and PATE
        # tests run in CI instead of being skipped.
        # pytest-xdist: the suite runs on both cores (-n 2), 4.8 min instead of 9.
        "test": ["pytest", "pytest-xdist", "import-linter", "faiss-cpu>=1.7", "dp-accounting>=0.4"],
        "gpu": ["tensorflow[and-cuda]>=2.21,<2.22"],
        "dknn": ["faiss-cpu>=1.7"],  # k-NN search of tfrobust.evaluation.deep_knn
        "privacy": ["dp-accounting>=0.4"],  # RDP accounting of tfrobust.privacy.pate
        "bench": ["adversarial-robustness-toolbox>=1.20", "multiprocess", "foolbox>=3.3", "cleverhans>=4.0"],  # peers; ART AutoAttack imports multiprocess
    },
)
