"""SANet (Park & Lee, CVPR 2019): style-attentional networks, as GlebSBrykin/SANET trains and runs them."""
