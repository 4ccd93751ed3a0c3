"""A predictor whose __init__ raises: the pod's termination message must say why."""


class PythonPredictor:
    def __init__(self, config):
        raise RuntimeError("the weights file is corrupt (test)")

    def predict(self, payload):
        return payload
