"""Transaction data: the synthetic generator, loading/saving, and schema validation.

Row numbers in validation reports are CSV line numbers (the header is line 1).
"""

from fraudops.data.generate import SCENARIOS, generate
from fraudops.data.io import load, save
from fraudops.data.validate import (
    DataValidationError,
    ValidationReport,
    validate_file,
    validate_frame,
)

__all__ = [
    "SCENARIOS",
    "DataValidationError",
    "ValidationReport",
    "generate",
    "load",
    "save",
    "validate_file",
    "validate_frame",
]
