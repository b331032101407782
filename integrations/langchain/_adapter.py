"""What the LangChain model adapters (``Qwen3VLEmbeddings``, ``Qwen3VLRerank``) do alike: take a ready core model,
or load one from ``model_name`` + ``model_kwargs`` (the anchors' loading arguments folded in, unknown arguments
refused) at construction or on first use, and write ``model_kwargs`` as JSON."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, PrivateAttr, field_serializer, model_validator

from .._lazy import LazyModel
from .._shared import (
    MODEL_ARGUMENTS,
    MODEL_KWARGS_ALIASES,
    jsonable_model_kwargs,
    refuse_unknown,
    rename_aliases,
    take_model_arguments,
)


class CoreModelAdapter(BaseModel):
    """Base of a LangChain adapter over one core model. A subclass declares its fields (``model_name``,
    ``model_kwargs``, ``lazy`` and the field that takes a ready model), the class variables below and
    ``_lazy_model``."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, protected_namespaces=(), arbitrary_types_allowed=True
    )

    _instance_field: ClassVar[str]  # the field that takes a ready core model ("embedder", "reranker")
    _instance_method: ClassVar[tuple[str, str]]  # (the method that model must have, what the error calls it)
    _extra_arguments: ClassVar[frozenset[str]] = frozenset()  # accepted besides the fields and anchor arguments
    _aliases: ClassVar[dict[str, str]] = {}  # other names of fields (alias -> field)

    _model: LazyModel = PrivateAttr()

    @model_validator(mode="before")
    @classmethod
    def _anchor_arguments(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        owner = cls.__name__
        data = rename_aliases(owner, data, cls._aliases)
        accepted = {*cls.model_fields, "model", *MODEL_ARGUMENTS, *cls._extra_arguments, *MODEL_KWARGS_ALIASES,
                    *cls._aliases}
        refuse_unknown(owner, set(data) - accepted, accepted, ValueError)
        name = cls._instance_field
        return take_model_arguments(owner, data, instance=data.get(name), instance_name=name)

    @field_serializer("model_kwargs", check_fields=False)
    def _serialise_model_kwargs(self, value: dict[str, Any]) -> dict[str, Any]:
        return jsonable_model_kwargs(value, type(self).__name__)

    @model_validator(mode="after")
    def _check_source(self) -> Any:
        name = self._instance_field
        instance = getattr(self, name)
        if instance is not None:
            if "model_name" in self.model_fields_set or self.model_kwargs:
                raise ValueError(f"pass either {name}= or model_name=/model_kwargs=, not both")
            method, described = self._instance_method
            if not callable(getattr(instance, method, None)):
                raise ValueError(f"{name} must have {described}, got {type(instance).__name__}")
        return self

    def _lazy_model(self) -> LazyModel:
        """The model given as ``_instance_field``, or one built from ``model_name`` on first use."""
        raise NotImplementedError

    def model_post_init(self, __context: Any) -> None:
        self._model = self._lazy_model()
        if not self.lazy:
            self._model.get()

    @property
    def client(self) -> Any:
        """The core model (loaded on first access)."""
        return self._model.get()

    async def _aclient(self) -> Any:
        """``client`` for a coroutine: loading weights must not block the event loop."""
        if self._model.loaded:
            return self._model.get()
        return await asyncio.to_thread(self._model.get)
