"""Pictures of a network: training curves, augmentation, and what a trained model learned.

`pipeline.visualize(cfg)` draws one of filters, feature maps, activation maximization,
saliency (vanilla, SmoothGrad, Grad-CAM), DeepDream, style transfer and embeddings.
Every figure is a plain matplotlib `Figure` (object API): importing this package never
touches pyplot's state or the user's backend.
"""
