"""Files in and out: image decode/encode, model files, import of public models, export, download."""
