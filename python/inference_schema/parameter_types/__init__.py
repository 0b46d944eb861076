"""Parameter types for `@input_schema` / `@output_schema`.

Import the concrete types from their modules, as Azure ML scripts do
(`from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType`): numpy and
pandas are only imported when a script uses the matching type.
"""
