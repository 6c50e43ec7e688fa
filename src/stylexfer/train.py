"""`python -m stylexfer.train`: the training entry point (Hydra owns this argv); the run itself
lives in stylexfer.training.run."""

from stylexfer.training.run import main

if __name__ == "__main__":
    main()
