"""Keys of the schema record a decorated function carries."""

INPUT_SCHEMA_ATTR = "input_schema"
OUTPUT_SCHEMA_ATTR = "output_schema"

# The attribute of a decorated function holding its schema record (see schema_util).
SCHEMA_RECORD_ATTR = "__inference_schema__"

# OpenAPI versions a schema can be rendered in. Mixed-type arrays need `oneOf`, which Swagger 2
# cannot express, so such schemas drop "2.0".
ALL_VERSIONS = ("2.0", "3.0", "3.1")
