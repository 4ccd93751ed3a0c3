"""The peer: a no-op model on KServe's Python model server (run with bench/.venv-peer's python).

`POST /v1/models/noop:predict` returns the request body. Started with KServe's own argument
parser, e.g. `python kserve_noop.py --http_port 8081 --enable_grpc false`.
"""

import argparse

import kserve


class NoopModel(kserve.Model):
    def __init__(self, name: str):
        super().__init__(name)
        self.ready = True

    async def predict(self, payload, headers=None, response_headers=None):
        return payload


if __name__ == "__main__":
    args, _ = argparse.ArgumentParser(parents=[kserve.model_server.parser]).parse_known_args()
    kserve.ModelServer(http_port=args.http_port, workers=1, enable_grpc=args.enable_grpc).start(
        [NoopModel("noop")])
