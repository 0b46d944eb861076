"""B4's peers load the scoring script the way Azure's inference server does: the module named by
AZUREML_ENTRY_SCRIPT inside AML_APP_ROOT, imported once per worker, init() called once."""
import importlib.util
import os


def load_entry_script():
    path = os.path.join(os.environ["AML_APP_ROOT"], os.environ["AZUREML_ENTRY_SCRIPT"])
    spec = importlib.util.spec_from_file_location("entry_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.init()
    return module
