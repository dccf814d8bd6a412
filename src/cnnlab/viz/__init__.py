"""Pictures: training curves, filters, feature maps and other views of a network."""
