"""flow.branch: run the steps of the first (or every) branch whose condition is true."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.actions._flow import executor_only
from engine.registry import action


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["first_match", "all_match"] = Field(
        "first_match", title="Mode",
        description="first_match: the first true branch, else the default; all_match: every true branch in order")


action("flow.branch", config=Config, title="Branch", category="flow", side_effect=False,
       description="Take one path (or several) depending on conditions; each branch has its own steps.")(executor_only)
