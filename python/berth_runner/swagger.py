"""The OpenAPI documents served at GET /swagger.json?version=2|3|3.1 (default 2).

A user file in the app root wins (version 2: swagger.json, then swagger2.json; 3: swagger3.json;
3.1: swagger3.1.json). Otherwise the document is generated like the Azure ML server's templates:
GET / (ServiceHealthCheck), POST /score (RunMLService) with ServiceInput/ServiceOutput taken from
the inference-schema decorators of run(), or from a module-level `BERTH_SWAGGER = {"input": schema,
"output": schema}` of an undecorated script, else `{"type": "object", "example": {}}`.
"""

import copy
import json
import logging
import os
from typing import Any, Callable, Dict, Optional

from inference_schema.schema_util import (get_input_schema, get_output_schema,
                                          get_supported_versions, is_schema_decorated)

logger = logging.getLogger("berth_runner.swagger")

# Requested version (and aliases) -> (canonical version, OpenAPI version it needs to support).
_VERSIONS = {"2": ("2", "2.0"), "2.0": ("2", "2.0"), "3": ("3", "3.0"), "3.0": ("3", "3.0"),
             "3.1": ("3.1", "3.1")}
_USER_FILES = {"2": ("swagger.json", "swagger2.json"), "3": ("swagger3.json",),
               "3.1": ("swagger3.1.json",)}
_CANONICAL = ("2", "3", "3.1")
_EMPTY_OBJECT = {"type": "object", "example": {}}
_ERROR_RESPONSE = {"type": "object", "properties": {"message": {"type": "string"}}}
_HEALTH_DESCRIPTION = ("If service is up and running, this response will be returned with the "
                       "content 'Healthy'")
_SCORE_OK = ("The service processed the input correctly and provided a result prediction, if "
             "applicable.")
_FAILED = "The service failed to execute due to an error."


class SwaggerError(Exception):
    """No document for the requested version (answered with 404 and this message)."""


def _document_v2(title: str, version: str, service_input, service_output) -> Dict[str, Any]:
    error_ref = {"$ref": "#/definitions/ErrorResponse"}
    return {
        "swagger": "2.0",
        "info": {"title": title, "description": f"API specification for the service {title}",
                 "version": version},
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "securityDefinitions": {"Bearer": {"type": "apiKey", "name": "Authorization",
                                           "in": "header",
                                           "description": "For example: Bearer abc123"}},
        "paths": {
            "/": {"get": {
                "operationId": "ServiceHealthCheck",
                "description": "Simple health check endpoint to ensure the service is up at any "
                               "given point.",
                "responses": {
                    "200": {"description": _HEALTH_DESCRIPTION, "schema": {"type": "string"},
                            "examples": {"application/json": "Healthy"}},
                    "default": {"description": _FAILED, "schema": error_ref}}}},
            "/score": {"post": {
                "operationId": "RunMLService",
                "description": "Run web service's model and get the prediction output",
                "security": [{"Bearer": []}],
                "parameters": [{"name": "serviceInputPayload", "in": "body",
                                "description": "The input payload for executing the real-time "
                                               "machine learning service.",
                                "schema": {"$ref": "#/definitions/ServiceInput"}}],
                "responses": {
                    "200": {"description": _SCORE_OK,
                            "schema": {"$ref": "#/definitions/ServiceOutput"}},
                    "default": {"description": _FAILED, "schema": error_ref}}}},
            "/swagger.json": {"get": {
                "operationId": "GetSwaggerSpec",
                "description": "Get the Swagger specification.",
                "parameters": [{"name": "version", "in": "query", "required": False,
                                "type": "string", "enum": list(_VERSIONS)}],
                "responses": {
                    "200": {"description": "The Swagger specification.",
                            "schema": {"type": "object"}},
                    "default": {"description": _FAILED, "schema": error_ref}}}},
        },
        "definitions": {"ServiceInput": service_input, "ServiceOutput": service_output,
                        "ErrorResponse": copy.deepcopy(_ERROR_RESPONSE)},
    }


def _document_v3(openapi: str, title: str, version: str, service_input,
                 service_output) -> Dict[str, Any]:
    def json_content(ref):
        return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}

    return {
        "openapi": openapi,
        "info": {"title": title, "description": f"API specification for the service {title}",
                 "version": version},
        "security": [{"Bearer": []}],
        "paths": {
            "/": {"get": {
                "operationId": "ServiceHealthCheck",
                "description": "Simple health check endpoint to ensure the service is up at any "
                               "given point.",
                "responses": {
                    "200": {"description": _HEALTH_DESCRIPTION,
                            "content": {"text/plain": {"schema": {"type": "string",
                                                                  "example": "Healthy"}}}},
                    "default": {"description": _FAILED, "content": json_content("ErrorResponse")},
                }}},
            "/score": {"post": {
                "operationId": "RunMLService",
                "description": "Run web service's model and get the prediction output",
                "security": [{"Bearer": []}],
                "requestBody": {"description": "The input payload for executing the real-time "
                                               "machine learning service.",
                                "content": json_content("ServiceInput")},
                "responses": {
                    "200": {"description": _SCORE_OK, "content": json_content("ServiceOutput")},
                    "default": {"description": _FAILED, "content": json_content("ErrorResponse")},
                }}},
            "/swagger.json": {"get": {
                "operationId": "GetSwaggerSpec",
                "description": "Get the Swagger specification.",
                "parameters": [{"name": "version", "in": "query", "required": False,
                                "schema": {"type": "string", "enum": list(_VERSIONS)}}],
                "responses": {
                    "200": {"description": "The Swagger specification.",
                            "content": {"application/json": {"schema": {"type": "object"}}}},
                    "default": {"description": _FAILED, "content": json_content("ErrorResponse")},
                }}},
        },
        "components": {
            "schemas": {"ServiceInput": service_input, "ServiceOutput": service_output,
                        "ErrorResponse": copy.deepcopy(_ERROR_RESPONSE)},
            "securitySchemes": {"Bearer": {"type": "apiKey", "name": "Authorization",
                                           "in": "header",
                                           "description": "For example: Bearer abc123"}},
        },
    }


class SwaggerDocs:
    """The documents of one loaded script, built on first use and cached."""

    def __init__(self, app_root: str, run_function: Callable, module, service_name: str,
                 service_version: str):
        self._app_root = app_root
        self._run = run_function
        self._module = module
        self._title = service_name
        self._version = service_version
        self._cache: Dict[str, Optional[dict]] = {}
        self._supported: Optional[list] = None

    def _schemas(self):
        if is_schema_decorated(self._run):
            service_input = get_input_schema(self._run) or copy.deepcopy(_EMPTY_OBJECT)
            service_output = get_output_schema(self._run) or copy.deepcopy(_EMPTY_OBJECT)
            return service_input, service_output
        hook = getattr(self._module, "BERTH_SWAGGER", None)
        if isinstance(hook, dict):
            service_input = hook.get("input") or _EMPTY_OBJECT
            service_output = hook.get("output") or _EMPTY_OBJECT
            return copy.deepcopy(service_input), copy.deepcopy(service_output)
        return copy.deepcopy(_EMPTY_OBJECT), copy.deepcopy(_EMPTY_OBJECT)

    def _read_user_file(self, canonical: str) -> Optional[dict]:
        for name in _USER_FILES[canonical]:
            path = os.path.join(self._app_root, name)
            try:
                with open(path, "r", encoding="utf-8") as file:
                    document = json.load(file)
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as error:
                logger.error("Ignoring swagger file %s: %s", path, error)
                continue
            logger.info("Loaded user's swagger file for version [%s] from %s", canonical, path)
            return document
        return None

    def _build(self, canonical: str, openapi: str) -> Optional[dict]:
        document = self._read_user_file(canonical)
        if document is not None:
            return document
        if is_schema_decorated(self._run) and openapi not in get_supported_versions(self._run):
            return None
        service_input, service_output = self._schemas()
        if canonical == "2":
            return _document_v2(self._title, self._version, service_input, service_output)
        openapi_version = "3.1.0" if canonical == "3.1" else "3.0.3"
        return _document_v3(openapi_version, self._title, self._version, service_input,
                            service_output)

    def _get_canonical(self, canonical: str) -> Optional[dict]:
        if canonical not in self._cache:
            openapi = _VERSIONS[canonical][1]
            try:
                self._cache[canonical] = self._build(canonical, openapi)
            except Exception:  # a broken schema must not take the worker down
                logger.exception("Cannot generate the swagger document version %s", canonical)
                self._cache[canonical] = None
        return self._cache[canonical]

    def supported_versions(self):
        if self._supported is None:
            self._supported = [v for v in _CANONICAL if self._get_canonical(v) is not None]
        return self._supported

    def get(self, requested: str) -> dict:
        """The document for `requested` ("2", "2.0", "3", "3.0", "3.1"); raises SwaggerError."""
        supported = ", ".join(self.supported_versions())
        if requested not in _VERSIONS:
            raise SwaggerError(f"Swagger version [{requested}] is not valid. "
                               f"Supported versions: [{supported}].")
        document = self._get_canonical(_VERSIONS[requested][0])
        if document is None:
            raise SwaggerError(f"Swagger version [{requested}] is not supported for the scoring "
                               f"script. Supported swagger versions: [{supported}].")
        return document
