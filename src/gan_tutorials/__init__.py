"""gan_tutorials: the "Demystifying GANs" tutorial (Keras + TensorFlow, MNIST), reproduced.

The modules follow the tutorial's story:
    data      step 0: MNIST via tfds, offline when needed, scaled to [-1, 1]
    models    steps 1 and 3: dense and one-hot conditional G, D and combined GAN
    steps     step 2: one alternating D / G update (tutorial, train_on_batch, fused)
    train     steps 2 and 3: the epoch loop, previews, checkpoints, the run folder
    evaluate  beyond the tutorial: an MNIST classifier judges every claim
    explore   step 4: latent-space grid, style averages, scaling, arithmetic
    bench     beyond the tutorial: speed of each engine against the machine
"""

__version__ = "0.1.0"
