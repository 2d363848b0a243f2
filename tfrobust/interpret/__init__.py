"""tfrobust.interpret: input attributions (saliency maps) and how image-like they are.

- ``saliency``: vanilla gradient (Simonyan et al. 2013), SmoothGrad (Smilkov et al. 2017), integrated
  gradients (Sundararajan et al. 2017).
- ``image_likeness``: numbers for "the map looks like the digit" (Tsipras et al. 2019 observe that
  adversarially trained models have more image-like gradients).
"""
from tfrobust.interpret.image_likeness import mask_correlation, saliency_mass_on_object
from tfrobust.interpret.saliency import integrated_gradients, smoothgrad, vanilla_gradient

__all__ = ["vanilla_gradient", "smoothgrad", "integrated_gradients", "saliency_mass_on_object", "mask_correlation"]
