"""berth's implementation of Microsoft's `inference-schema` package.

Scoring scripts written for Azure ML decorate `run()` with `@input_schema` / `@output_schema` from
`inference_schema.schema_decorators` and describe parameters with the types in
`inference_schema.parameter_types`. berth ships this package on the runner's path so those scripts
run unchanged without the PyPI package: the decorators convert JSON inputs to the declared types and
record JSON schemas that the runner turns into the deployment's OpenAPI document.
"""

__version__ = "1.8.0+berth"
