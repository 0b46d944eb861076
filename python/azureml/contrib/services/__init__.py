"""berth's stand-in for `azureml.contrib.services` (raw HTTP access for scoring scripts).

`azureml` and `azureml.contrib` are namespace packages (no __init__.py) so that an installed
Azure ML SDK keeps working next to these modules.
"""
