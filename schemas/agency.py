"""Agency configuration as written in config/agencies.yaml."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator

from schemas.case import Slug


class OnboardingStatus(StrEnum):
    """Whether the agency's own system is connected (`joining` ones are chased by hand)."""

    onboarded = "onboarded"
    joining = "joining"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Contact(_Config):
    """Someone the central office calls or writes to when following up by hand."""

    name: str
    role: str = ""
    phone: str | None = None
    email: EmailStr | None = None


class AdapterConfig(BaseModel):
    """The adapter kind plus its settings; the settings are checked by the adapter's own model."""

    model_config = ConfigDict(extra="allow")

    kind: Annotated[str, StringConstraints(min_length=1)]

    @property
    def settings(self) -> dict[str, Any]:
        """Everything but `kind`: what the adapter's settings model validates."""
        return dict(self.model_extra or {})


CitizenField = Literal["name", "cpr", "mobile", "email", "address"]
"""Personal details an agency may receive; `address` is the building and the exact point on the map."""


class SharePolicy(_Config):
    """Which of the citizen's details reach this agency (data minimisation, Bahrain's PDPL).

    The default is the least that lets an agency answer: the name. List more only where the agency
    must contact the citizen or identify them in its own records.
    """

    citizen: list[CitizenField] = ["name"]


class AgencyConfig(_Config):
    """One government agency."""

    id: Slug
    name_ar: Annotated[str, StringConstraints(min_length=1)]
    name_en: Annotated[str, StringConstraints(min_length=1)]
    status: OnboardingStatus
    adapter: AdapterConfig = AdapterConfig(kind="manual")
    contacts: list[Contact] = []
    share: SharePolicy = SharePolicy()
    sign_env: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*$")] | None = Field(
        default=None,
        description="The environment variable holding the secret this agency signs its agency API calls with "
        "(the v2 scheme of the hub's own signatures); when set, an unsigned or wrongly signed call is refused.",
    )
    transfer_partners: list[Slug] = Field(
        default=[],
        description="Agencies this one may transfer a case to on its own word; any other transfer waits for "
        "the central office's decision.",
    )
    operator: bool = Field(default=False, description="The central office's own entity (triage).")
    max_in_flight: int | None = Field(
        default=None,
        ge=1,
        description="Deliveries under way at once (broker messages in flight, each delivering its handoffs one "
        "after another); default: the hub's agency_max_in_flight.",
    )

    @model_validator(mode="after")
    def _joining_agencies_are_manual(self) -> AgencyConfig:
        if self.status is OnboardingStatus.joining and self.adapter.kind != "manual":
            raise ValueError("an agency that is joining uses the manual adapter")
        return self


class CategoryRoute(_Config):
    """Where a category goes: fixed agencies, or by the case's governorate."""

    id: Slug
    name_ar: str
    name_en: str
    agencies: list[Slug] = []
    by_governorate: dict[str, Slug] = Field(
        default={}, description="Governorate to agency; the key `default` covers none or others."
    )

    @model_validator(mode="after")
    def _one_rule(self) -> CategoryRoute:
        if bool(self.agencies) == bool(self.by_governorate):
            raise ValueError("give exactly one of `agencies` or `by_governorate`")
        if self.by_governorate and "default" not in self.by_governorate:
            raise ValueError("`by_governorate` needs a `default` agency")
        return self


class HubConfig(_Config):
    """The whole of agencies.yaml."""

    agencies: list[AgencyConfig]
    categories: list[CategoryRoute]
