"""No-op predictors for the runtime-overhead benchmark: return the decoded payload unchanged."""


class AsyncPredictor:
    def __init__(self, config):
        pass

    async def predict(self, payload):
        return payload


class SyncPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload):
        return payload
