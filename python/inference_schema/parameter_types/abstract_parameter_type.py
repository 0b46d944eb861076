"""Base class of every parameter type accepted by the schema decorators."""

from abc import ABC, abstractmethod


class AbstractParameterType(ABC):
    """A parameter described by a sample value.

    Subclasses convert a parsed JSON value into the type the scoring function expects
    (`deserialize_input`) and describe that JSON as an OpenAPI schema object carrying an `example`
    (`input_to_swagger`). Custom types may subclass this, as with the PyPI package.
    """

    def __init__(self, sample_input):
        self.sample_input = sample_input
        self.sample_data_type = type(sample_input)

    @abstractmethod
    def deserialize_input(self, input_data):
        """Converts a parsed JSON value into the expected Python object (raises ValueError)."""

    @abstractmethod
    def input_to_swagger(self):
        """Returns the JSON schema (with an `example`) of the JSON this parameter accepts."""

    def output_to_swagger(self):
        """Returns the JSON schema of this type when used by `@output_schema`."""
        return self.input_to_swagger()

    def supported_versions(self):
        """The OpenAPI versions ("2.0", "3.0", "3.1") that can express this type's schema."""
        from ._util import get_supported_versions_from_schema

        return get_supported_versions_from_schema(self.input_to_swagger())
