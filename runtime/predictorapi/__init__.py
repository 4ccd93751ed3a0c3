"""predictorapi: declarative model serving for plain Python predictors."""

__version__ = "0.1.0"
