"""The built-in model families, one folder each (the registry, stylexfer.registry, finds them; code
above the families never imports them by name). See docs "Adding a model family"."""
