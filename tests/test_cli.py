"""The command line: help for every command, errors as exit codes without tracebacks."""

from click.testing import CliRunner

from nettrain.cli import COMMANDS, cli


def test_group_help_lists_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "Train neural networks" in result.output


def test_every_written_command_has_help():
    runner = CliRunner()
    listed = cli.list_commands(None)
    assert set(listed) <= set(COMMANDS)
    for verb in listed:
        result = runner.invoke(cli, [verb, "--help"])
        assert result.exit_code == 0, (verb, result.output)
        assert "Usage:" in result.output


def test_cli_module_does_not_import_numpy():
    import subprocess
    import sys

    code = "import sys, nettrain.cli; print('numpy' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_readme_names_every_option_of_the_documented_commands():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    missing = []
    for verb in ("fit", "evaluate", "predict", "validate", "gradcheck", "init"):
        assert f"nettrain {verb} " in readme, verb
        for param in cli.get_command(None, verb).params:
            opts = [o for o in getattr(param, "opts", []) + getattr(param, "secondary_opts", [])
                    if o.startswith("-") and o not in ("-h", "--help")]
            if opts and not any(f"{o} " in readme or f"{o}]" in readme or f"`{o}`" in readme
                                for o in opts):
                missing.append(f"{verb} {'/'.join(opts)}")
    assert not missing, f"options missing from README.md: {missing}"


def test_ctrl_c_in_any_command_exits_130_without_a_traceback(monkeypatch, tmp_path):
    import nettrain.inference.loading

    def interrupted(run_dir):
        raise KeyboardInterrupt

    monkeypatch.setattr(nettrain.inference.loading, "load", interrupted)
    result = CliRunner().invoke(cli, ["evaluate", str(tmp_path)])
    assert result.exit_code == 130
    assert result.stderr == "Interrupted.\n" and "Traceback" not in result.output
