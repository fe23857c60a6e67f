"""Relevance grades: names from config, raw ratings mapped onto them, generator inputs. Free of
Beam."""

import math
from dataclasses import dataclass


class UnknownGrade(ValueError):
    """A rating that maps onto no configured grade."""


@dataclass(frozen=True)
class GradeScheme:
    """Grade names with the rating each stands for, e.g. Irrelevant 1, Partial 2, Exact 3. A raw
    rating (e.g. a mean of 2.33) is rounded half up to the nearest whole number and looked up."""

    values: tuple[tuple[str, float], ...]

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.values]

    def index(self, name: str) -> int:
        return self.names.index(name)

    def grade_of(self, rating: float) -> str:
        rounded = math.floor(rating + 0.5)
        for name, value in self.values:
            if value == rounded:
                return name
        raise UnknownGrade(f"rating {rating:g} rounds to {rounded}, which no grade defines "
                           f"({', '.join(f'{n}={v:g}' for n, v in self.values)})")


def generator_input(document: str, grade: str | None) -> str:
    """The generator's source text; `grade` None is the unconditioned baseline."""
    prefix = f"grade: {grade} | " if grade is not None else ""
    return f"{prefix}document: {document}"


def normalise_query(query: str) -> str:
    """Lower case, single spaces, no surrounding punctuation: what the filters compare."""
    return " ".join(query.lower().split()).strip(" .,;:!?\"'")
