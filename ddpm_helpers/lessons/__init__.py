"""What each notebook needs beyond the core: its experiments, figures, slider panels and exercise checks.

* ``lessons.forward``: Notebooks 01 (the forward process) and 02 (its closed form)
* ``lessons.moons``: Notebook 03: a denoiser for the 2-D two moons
* ``lessons.unet``: Notebook 04: a U-Net on FashionMNIST
* ``lessons.elbo``: Notebook 05: from the ELBO to the mean squared error
* ``lessons.ddim``: Notebook 06: DDIM, step skipping and what determinism buys
* ``lessons.guidance``: Notebook 07: class-conditional diffusion and classifier-free guidance
"""
