"""berth's stand-in for the `azureml-inference-server-http` package.

Only the public script-facing API (`azureml_inference_server_http.api.aml_request` and
`.aml_response`) is provided; the server itself is berth's runner (`berth_runner`).
"""
