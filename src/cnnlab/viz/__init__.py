"""Pictures of a network: training curves, augmentation, and what a trained model learned.

Its modules draw filters, feature maps, activation maximization,
saliency (vanilla, SmoothGrad, Grad-CAM), DeepDream, style transfer and embeddings;
`cnnlab.visualize.visualize(cfg)`, above `tracking`, picks one and logs it to a run.
Every figure is a plain matplotlib `Figure` (object API): importing this package never
touches pyplot's state or the user's backend.
"""
