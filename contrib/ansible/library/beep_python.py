#!/usr/bin/python
# -*- coding: utf-8 -*-
# MIT License (see the LICENSE of beep-python).
"""Ansible module: make a host match a beep-python manifest and its lock."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: beep_python
short_description: Make a host's Python runtimes and environments match a beep-python manifest
description:
  - Runs C(beep-python plan --locked --detailed-exitcode --format json) to learn what would
    change; reports that plan as the task's diff and C(changed) from it.
  - In check mode nothing else runs. Otherwise, when the plan has changes, runs
    C(beep-python apply --locked --auto-approve), all or nothing (beep-python rolls back a
    failed apply and leaves the registry as it was).
  - With O(bundle), installs from that bundle alone (C(apply --bundle), no network, no
    index); where the project has no manifest yet, the bundle's manifest and lock are
    written there.
  - A failure carries beep-python's own diagnostics (what, where, what to do) in C(msg).
  - Per-host drift reports need no module, since C(beep-python plan --format json) and
    C(beep-python doctor --format json) are machine-readable.
version_added: "0.1.0"
author: beep-python
options:
  manifest:
    description:
      - The manifest, C(beep-python.toml). Its folder is the project; the lock is
        C(beep-python.lock) beside it.
    type: path
    required: true
  home:
    description:
      - beep-python's home on the host (C(BEEP_PYTHON_HOME)); default C(~/.beep-python).
    type: path
  bundle:
    description:
      - A bundle made by C(beep-python bundle create), already on the host. Everything is
        installed from it, with no network; the manifest and lock it holds are written to
        O(manifest)'s folder if none are there.
    type: path
  locked:
    description:
      - Install exactly what the lock pins, and fail (changing nothing) when the lock does
        not match the manifest. With V(false), entries that do not match are resolved
        from the manifest.
    type: bool
    default: true
  targets:
    description:
      - Limit the plan and the apply to these resources (C(env.NAME), C(runtime.NAME)).
    type: list
    elements: str
    default: []
  binary:
    description:
      - The beep-python executable (a name on C(PATH), or a path).
    type: str
    default: beep-python
  lock_timeout:
    description:
      - Seconds to wait for another beep-python using the same home.
    type: float
    default: 60
notes:
  - Supports check mode and diff mode.
"""

EXAMPLES = r"""
- name: Python environments as the project declares them
  beep_python:
    manifest: /srv/app/beep-python.toml

- name: Rebuild offline from a bundle copied to the host
  beep_python:
    manifest: /srv/app/beep-python.toml
    bundle: /var/tmp/app-bundle.tar.zst
"""

RETURN = r"""
changed:
  description: Whether the plan had changes (in check mode, whether it would have).
  type: bool
  returned: always
plan:
  description: The plan, as C(beep-python plan --format json) prints it.
  type: dict
  returned: when a plan was made
  sample: {"format_version": 1, "changes": [], "summary": {"add": 0, "change": 0, "destroy": 0}}
stdout:
  description: What C(apply) printed (the plan and the result).
  type: str
  returned: when apply ran
stderr:
  description: beep-python's messages.
  type: str
  returned: always
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

SYMBOLS = {
    "create": "+",
    "update": "~",
    "replace": "-/+",
    "delete": "-",
    "rename": "~",
    "move": "-/+",
    "adopt": "+",
    "forget": "-",
}


def describe(plan):
    """The plan as the lines a person reads in the diff."""
    lines = []
    for change in plan.get("changes", []):
        action = change.get("action", "?")
        lines.append(
            "%s %s: %s: %s"
            % (SYMBOLS.get(action, action), change.get("address", "?"), action, change.get("reason", ""))
        )
        packages = change.get("packages") or {}
        for key, symbol in (("add", "+"), ("change", "~"), ("remove", "-")):
            for package in packages.get(key, []) or []:
                lines.append("    %s %s" % (symbol, package))
    summary = plan.get("summary", {})
    lines.append(
        "Plan: %s to add, %s to change, %s to destroy."
        % (summary.get("add", 0), summary.get("change", 0), summary.get("destroy", 0))
    )
    return "\n".join(lines) + "\n"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            manifest=dict(type="path", required=True),
            home=dict(type="path"),
            bundle=dict(type="path"),
            locked=dict(type="bool", default=True),
            targets=dict(type="list", elements="str", default=[]),
            binary=dict(type="str", default="beep-python"),
            lock_timeout=dict(type="float", default=60),
        ),
        supports_check_mode=True,
    )
    params = module.params
    binary = params["binary"]
    if os.sep not in binary:
        found = module.get_bin_path(binary)
        if not found:
            module.fail_json(msg="`%s` is not on PATH; install beep-python or set `binary`" % binary)
        binary = found

    base = [binary, "--manifest", params["manifest"], "--lock-timeout", str(params["lock_timeout"])]
    if params["home"]:
        base += ["--home", params["home"]]
    targets = []
    for target in params["targets"]:
        targets += ["--target", target]
    env = {"NO_COLOR": "1"}

    def fail(what, rc, out, err):
        module.fail_json(
            msg="beep-python %s failed (exit %s):\n%s" % (what, rc, (err or out).strip()),
            rc=rc,
            stdout=out,
            stderr=err,
        )

    bundle = params["bundle"]
    if bundle and not os.path.exists(params["manifest"]):
        # A new host: the bundle brings the manifest. Check it whole; what
        # applying it would do is everything it holds.
        rc, out, err = module.run_command(base + ["bundle", "verify", bundle], environ_update=env)
        if rc != 0:
            fail("bundle verify", rc, out, err)
        diff = {"prepared": "+ the bundle's manifest and lock, written to %s\n%s" % (
            os.path.dirname(params["manifest"]) or ".", out)}
        if module.check_mode:
            module.exit_json(changed=True, diff=diff, stderr=err)
        rc, out, err = module.run_command(
            base + ["apply", "--bundle", bundle, "--auto-approve"] + targets, environ_update=env
        )
        if rc != 0:
            fail("apply --bundle", rc, out, err)
        module.exit_json(changed=True, diff=diff, stdout=out, stderr=err)

    plan_args = ["--format", "json", "plan", "--detailed-exitcode"] + targets
    if params["locked"]:
        plan_args.append("--locked")
    rc, out, err = module.run_command(base + plan_args, environ_update=env)
    if rc not in (0, 2):
        fail("plan", rc, out, err)
    try:
        plan = json.loads(out)
    except ValueError:
        module.fail_json(msg="beep-python plan printed no JSON", stdout=out, stderr=err)
    changed = rc == 2
    diff = {"prepared": describe(plan)} if changed else {}
    if not changed or module.check_mode:
        module.exit_json(changed=changed, plan=plan, diff=diff, stderr=err)

    apply_args = ["apply", "--auto-approve"] + targets
    if bundle:
        apply_args += ["--bundle", bundle]
    elif params["locked"]:
        apply_args.append("--locked")
    rc, out, err = module.run_command(base + apply_args, environ_update=env)
    if rc != 0:
        fail("apply", rc, out, err)
    module.exit_json(changed=True, plan=plan, diff=diff, stdout=out, stderr=err)


if __name__ == "__main__":
    main()
