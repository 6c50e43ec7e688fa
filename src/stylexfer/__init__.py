"""stylexfer: feed-forward neural style transfer (Johnson et al. 2016; Huang & Belongie 2017)."""

__version__ = "0.1.0"
