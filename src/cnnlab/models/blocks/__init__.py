"""Building blocks that the architectures share: conv layers by `conv_impl`, conv units,
activations, stems, classifier heads, auxiliary outputs."""
