"""The command line as a newcomer meets it: help wherever one asks for it, no option silently ignored,
and a README whose command list matches the actions."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from invoke import Collection, Program
from invoke.util import helpline

import tasks
from infra.classroom.cli import CLASSROOM
from infra.cli import COST, IMAGES, LAB, SESSION, flag

GROUPS = (LAB, SESSION, IMAGES, CLASSROOM)
PAIRS = [(group, action) for group in GROUPS for action in group.actions]
README = Path(tasks.__file__).with_name("README.md")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """`invoke <argv>` in this process: exit code, stdout, stderr."""
    try:
        Program(namespace=tasks.ns, name="invoke", binary="invoke").run(["invoke", *argv])
        code = 0
    except SystemExit as exit_:
        code = exit_.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def flat(text: str) -> str:
    """Text with its line wrapping undone."""
    return " ".join(text.split())


def names_flag(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(flag(name))}(?![\w-])", text) is not None


def union_options(group) -> set[str]:
    return {name for action in group.actions for name in action.options}


@pytest.mark.parametrize("group, action", PAIRS, ids=[f"{g.name}.{a.name}" for g, a in PAIRS])
@pytest.mark.parametrize("form", ["two-words --help", "two-words -h", "dotted --help", "core --help dotted"])
def test_every_help_form_prints_that_actions_options_only_and_one_example(capsys, group, action, form):
    argv = {"two-words --help": (group.name, action.name, "--help"),
            "two-words -h": (group.name, action.name, "-h"),
            "dotted --help": (f"{group.name}.{action.name}", "--help"),
            "core --help dotted": ("--help", f"{group.name}.{action.name}")}[form]
    code, out, err = run(capsys, *argv)
    assert code == 0 and err == ""
    assert flat(action.summary) in flat(out)
    assert out.count("Example: ") == 1 and f"Example: invoke {group.name} {action.name}" in out
    for name in action.options:
        assert names_flag(out, name), f"{flag(name)} missing from {argv}"
    others = union_options(group) - set(action.options)
    shown = [flag(name) for name in others if names_flag(out, name)]
    assert not shown, f"{argv} shows options the action does not take: {shown}"


@pytest.mark.parametrize("group", GROUPS, ids=[g.name for g in GROUPS])
@pytest.mark.parametrize("help_flag", ["--help", "-h"])
def test_group_help_lists_each_action_on_one_line(capsys, group, help_flag):
    code, out, err = run(capsys, group.name, help_flag)
    assert code == 0 and err == ""
    lines = out.splitlines()
    for action in group.actions:
        assert [line for line in lines if line.split()[:1] == [action.name] and action.summary in line], action.name


@pytest.mark.parametrize("group", GROUPS, ids=[g.name for g in GROUPS])
def test_core_help_of_a_group_has_no_broken_flag_line(capsys, group):
    code, out, _ = run(capsys, "--help", group.name)
    assert code == 0
    assert "--=" not in out
    assert re.findall(r"^\s+(-[^-\s]),? ", out, re.M) == ["-h"]  # no other short flag: -h is always help
    for action in group.actions:
        assert flat(action.summary) in flat(out)


def _tasks(collection: Collection, prefix: str = ""):
    for name, task in collection.tasks.items():
        yield prefix + name, task
    for name, sub in collection.collections.items():
        yield from _tasks(sub, f"{prefix}{name}.")


@pytest.mark.parametrize("name, task", list(_tasks(tasks.ns)), ids=[name for name, _ in _tasks(tasks.ns)])
def test_list_descriptions_are_whole_sentences(name, task):
    """`invoke --list` shows a docstring's first line: it must be the whole first sentence."""
    first = helpline(task)
    paragraph = task.__doc__.strip().split("\n\n")[0]
    assert first == paragraph and first.endswith("."), f"{name}: {first!r}"


def test_list_shows_the_summaries_whole(capsys):
    code, out, _ = run(capsys, "--list")
    assert code == 0
    for group, action in PAIRS:
        assert flat(action.summary) in flat(out)


# --- no option silently ignored -------------------------------------------------------------------

NOT_TAKEN = [(group, action, sorted(union_options(group) - set(action.options))[0])
             for group, action in PAIRS if union_options(group) - set(action.options)]


@pytest.mark.parametrize("group, action, option", NOT_TAKEN, ids=[f"{g.name}-{a.name}-{o}" for g, a, o in NOT_TAKEN])
def test_an_option_the_action_does_not_take_is_refused_with_its_options(capsys, group, action, option):
    value = [] if action.options.get(option, group_default(group, option)) is False else ["x"]
    given = f"{flag(option)}" if not value else f"{flag(option)}=x"
    required = [f"{flag(name)}=ingress" for name in action.required]
    code, out, err = run(capsys, group.name, action.name, *required, given)
    assert code == 1 and out == ""  # refused before the action runs
    line = err.strip()
    assert len(line.splitlines()) == 1
    assert f"`{group.name} {action.name}` takes no {flag(option)}" in line
    for name in action.options:
        assert names_flag(line.split("(", 1)[1], name)


def group_default(group, option):
    return next(action.options[option] for action in group.actions if option in action.options)


def test_lab_render_refuses_a_port_it_would_have_ignored(capsys):
    code, out, err = run(capsys, "lab", "render", "--lab=ingress", "--http-port=8080")
    assert code == 1 and out == ""
    assert "`lab render` takes no --http-port (it takes --lab, --target, --session, --format" in err


def test_cost_refuses_an_option_it_does_not_take(capsys):
    """cost is one task, not a dispatcher: invoke itself refuses the option, naming it."""
    code, out, err = run(capsys, "cost", "--target=gke", "--lab=ingress")
    assert code == 1 and out == "" and "'--lab'" in err


def test_cost_help_shows_its_options_and_an_example(capsys):
    code, out, _ = run(capsys, "cost", "--help")
    assert code == 0 and COST.summary in out and "Example: invoke cost --target=gke" in out
    for name in COST.options:
        assert names_flag(out, name)


# --- the README's command list ---------------------------------------------------------------------

def readme_commands() -> list[tuple[str, str, list[str]]]:
    """(group, action, options) of each `invoke <group> <action> ...` in the README's command blocks."""
    found = []
    names = {group.name for group in GROUPS}
    for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", README.read_text(), re.S):
        for line in block.splitlines():
            command = line.split("#", 1)[0]
            words = command.split()
            if len(words) >= 3 and words[0] == "invoke" and words[1] in names:
                found.append((words[1], words[2], re.findall(r"--([a-z-]+)", command)))
    return found


def test_the_readme_lists_every_action_and_only_real_ones_with_their_options():
    listed = readme_commands()
    groups = {group.name: group for group in GROUPS}
    for group_name, action_name, options in listed:
        action = groups[group_name].action(action_name)
        for option in options:
            assert option.replace("-", "_") in action.options, f"README: `invoke {group_name} {action_name} --{option}`"
    shown = {(group, action) for group, action, _ in listed}
    missing = [f"{g.name} {a.name}" for g, a in PAIRS if (g.name, a.name) not in shown]
    assert not missing, f"README's command list lacks: {missing}"
