"""Typed errors raised by medkb; the CLI turns each into a one-line message."""

from __future__ import annotations


class MedkbError(Exception):
    """Base class of every error medkb raises on purpose."""


class KnowledgeBaseNotFound(MedkbError):
    """The directory is not a medkb knowledge base (no manifest.json / kb.sqlite)."""


class KnowledgeBaseExists(MedkbError):
    """`create` was asked to make a knowledge base where one already exists."""


class SettingsMismatch(MedkbError):
    """The knowledge base was built with other index-shaping settings than the ones given."""


class ReaderError(MedkbError):
    """An input file could not be read; the message names the file and what was expected."""


class ModelNotAvailable(MedkbError):
    """Model weights are missing locally; the message names the package to install."""


class ModelIntegrityError(MedkbError):
    """Assembled model weights do not match their expected checksum."""


class GenerationError(MedkbError):
    """A generator backend failed (bad response, unreachable endpoint, ...)."""


class InvalidFilter(MedkbError):
    """A search filter could not be understood."""


class DocumentNotFound(MedkbError):
    """No stored document has the id asked for."""
