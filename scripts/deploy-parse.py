"""Parses deploy/ for DeployTests with the ecosystem's parsers, printing one JSON object.

- every *.yml / *.yaml under deploy/: PyYAML (safe_load_all), as {path: [documents]}
- deploy/Dockerfile: dockerfile-parse (instructions with continuations joined, comments
  dropped; the final stage's ENV; parent images with ARG defaults substituted)

Usage: python scripts/deploy-parse.py DEPLOY_DIR. Exits non-zero, naming the file, when a
file does not parse. The checks of what the files say are in Tests/DeployTests.
"""

import json
import pathlib
import sys

try:
    import yaml
    from dockerfile_parse import DockerfileParser
except ImportError as error:
    sys.exit(f"{error}: bash scripts/python-env.sh installs scripts/requirements-ci.txt into .venv")


def parse_yaml(deploy: pathlib.Path) -> dict:
    documents, errors = {}, []
    for path in sorted(list(deploy.rglob("*.yml")) + list(deploy.rglob("*.yaml"))):
        name = str(path.relative_to(deploy.parent))
        try:
            documents[name] = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
        except yaml.YAMLError as error:
            errors.append(f"{name}: {error}")
    if errors:
        sys.exit("YAML that does not parse:\n" + "\n".join(errors))
    return documents


def parse_dockerfile(path: pathlib.Path) -> dict:
    parser = DockerfileParser(path=str(path), env_replace=True)
    instructions = [[item["instruction"], item["value"]] for item in parser.structure if item["instruction"] != "COMMENT"]
    # ARG NAME[=default], in every stage (a build argument may be declared in any of them).
    arguments = {}
    for keyword, value in instructions:
        if keyword == "ARG":
            name, _, default = value.partition("=")
            arguments[name.strip()] = default.strip()
    return {
        "instructions": instructions,
        "parentImages": [image for image in parser.parent_images if image != "scratch"],
        "finalEnvironment": dict(parser.envs),
        "argumentDefaults": arguments,
    }


def main() -> None:
    deploy = pathlib.Path(sys.argv[1])
    json.dump({"yaml": parse_yaml(deploy), "dockerfile": parse_dockerfile(deploy / "Dockerfile")}, sys.stdout, default=str)


if __name__ == "__main__":
    main()
