"""The plain hub's config table: on demand or provisioned, decided at plan (`config_table_billing_mode`).

GIVEN the plain hub (Terraform's JSON form, as generated) and the cdktf hub of the test landing zone, whose
config table is provisioned, THEN the plain module autoscales the table exactly as the construct does when
the mode is PROVISIONED (same targets and policies, argument for argument, except how they name the table),
and creates neither autoscaling nor capacities otherwise (the Terraform tier plans the provisioned case
through examples/hub-consumer)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from modules_testlib import LandingZones

from modules.plain import conventions
from modules.plain_modules import UNITS, build_modules
from modules.table import BILLING_MODES

PROVISIONED = '(var.config_table_billing_mode == "PROVISIONED")'
AUTOSCALING = ("aws_appautoscaling_target", "aws_appautoscaling_policy")
TABLE_NAMING = ("resource_id", "name", "depends_on", "count", "tags", "//")  # how each side names the table


@pytest.fixture(scope="module")
def hub(plain_modules: object) -> conventions.Module:
    return build_modules()["hub"]  # the one the plain_modules fixture rendered (cached per process)


def comparable(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(what it scales, its arguments but those naming the table): a target by its dimension; a policy by
    its metric (the construct's policy reads its target's attributes, the plain one repeats them)."""
    kept = {key: value for key, value in body.items() if key not in TABLE_NAMING and "capacity" not in key}
    if "target_tracking_scaling_policy_configuration" in body:
        for key in ("service_namespace", "scalable_dimension"):
            kept.pop(key)
        spec = body["target_tracking_scaling_policy_configuration"]["predefined_metric_specification"]
        return spec["predefined_metric_type"], kept
    return body["scalable_dimension"], kept


def test_billing_mode_and_capacities_are_validated_inputs() -> None:
    variables = {variable.name: variable for variable in UNITS["hub"].variables}
    mode = variables["config_table_billing_mode"]
    assert mode.default == "PAY_PER_REQUEST"
    [(condition, _)] = mode.validations
    assert all(f'"{choice}"' in condition for choice in BILLING_MODES)
    for name in ("config_table_min_capacity", "config_table_max_capacity"):
        [(condition, _)] = variables[name].validations
        assert ">= 1" in condition and "<= 40000" in condition


def test_the_table_takes_capacity_only_when_provisioned(hub: conventions.Module) -> None:
    table = hub.resources["aws_dynamodb_table"]["config"]
    assert table["billing_mode"] == "${var.config_table_billing_mode}"
    for capacity in ("read_capacity", "write_capacity"):
        assert table[capacity] == f"${{{PROVISIONED} ? var.config_table_min_capacity : null}}"


def test_provisioned_autoscaling_is_the_constructs(
    hub: conventions.Module, landing_zones: LandingZones
) -> None:
    for type_name in AUTOSCALING:
        plain = hub.resources[type_name]
        construct = landing_zones.accounts.resources("hub", type_name)
        assert len(plain) == len(construct) == 2
        # only with create, create_config_table and PROVISIONED
        for body in plain.values():
            count = body["count"]
            assert count.startswith("${var.create ? ") and count.endswith(" ? 1 : 0) : 0}")
            assert "var.create_config_table &&" in count and PROVISIONED in count
            assert re.search(r"table/\$\{var\.config_table_name\}", body["resource_id"])
        # the same arguments as the construct's, dimension by dimension
        assert dict(map(comparable, plain.values())) == dict(map(comparable, construct.values()))
    targets = hub.resources["aws_appautoscaling_target"].values()
    assert {(t["min_capacity"], t["max_capacity"]) for t in targets} == {
        ("${var.config_table_min_capacity}", "${var.config_table_max_capacity}")
    }
