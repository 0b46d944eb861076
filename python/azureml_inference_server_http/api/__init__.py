"""Classes scoring scripts use for raw HTTP access: `rawhttp`, `AMLRequest`, `AMLResponse`."""
