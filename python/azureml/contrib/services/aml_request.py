"""`azureml.contrib.services.aml_request`: the same `rawhttp` and `AMLRequest` as
`azureml_inference_server_http.api.aml_request` (one shared @rawhttp flag)."""

from azureml_inference_server_http.api.aml_request import AMLRequest, rawhttp

__all__ = ["AMLRequest", "rawhttp"]
