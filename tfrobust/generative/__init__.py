"""tfrobust.generative: GANs (Goodfellow et al. 2014; DCGAN, Radford et al. 2016), their quality numbers on a
tfrobust classifier's features, and the adversarial loss of image-to-image translation (pix2pix, Isola et al. 2017).
"""
from tfrobust.generative.classifier_metrics import (classifier_fid, classifier_score, feature_model,
                                                    frechet_distance, gaussian_statistics)
from tfrobust.generative.dcgan import dcgan_discriminator, dcgan_generator
from tfrobust.generative.gan_losses import GAN_LOSSES, discriminator_loss, generator_loss
from tfrobust.generative.gan_model import GANModel
from tfrobust.generative.monitor import GANMonitor, image_grid
from tfrobust.generative.pix2pix import (ImageToImageModel, inpainting_condition, inpainting_generator, occlude,
                                         patch_discriminator, sharpness)

__all__ = ["GAN_LOSSES", "GANModel", "GANMonitor", "ImageToImageModel", "classifier_fid", "classifier_score",
           "dcgan_discriminator", "dcgan_generator", "discriminator_loss", "feature_model", "frechet_distance",
           "gaussian_statistics", "generator_loss", "image_grid", "inpainting_condition", "inpainting_generator", "occlude",
           "patch_discriminator", "sharpness"]
