#!/usr/bin/env python3
"""Lists the Developer Portal component ids that Keboola's public component repositories state.

kbstack's own helper for src/storage/components/PROVENANCE.md ("Ids from public repositories").
Each argument is a git directory of a repository snapshot laid out as <owner>+<name>/repo (bare or
not). Two passes over the snapshot's HEAD:
  1. CI/deploy files (.travis.yml, .github/workflows/*, bitbucket-pipelines.yml, *.sh, deploy*,
     .gitlab-ci.yml): the id assigned to KBC_DEVELOPERPORTAL_APP (any case, optional suffix),
     `app_id: <id>`, or the items of an `app_id:` matrix list;
  2. top-level README files: ids given as "component": "<id>" / "componentId": "<id>" in a
     configuration example (processor definitions).
Prints TSV lines: id, owner/name, HEAD commit, file. The output still needs a human look
(README examples may name other vendors' components or misspell an id)."""
import re, subprocess, sys, fnmatch

ID = r'[a-z0-9][a-z0-9-]*\.[a-z0-9][a-z0-9._-]*[a-z0-9]'
ASSIGN = re.compile(r'(?i)(?:kbc_developerportal_app(?:_[0-9a-z]+)?["\']?\s*[:=]\s*|\bapp_id:\s*)["\']?(' + ID + r')["\']?\s*(?:#.*)?$')
ITEM = re.compile(r'^\s*-\s*["\']?(' + ID + r')["\']?\s*(?:#.*)?$')
FILES = ['.travis.yml', '.github/workflows/*', 'bitbucket-pipelines.yml', '*.sh', 'deploy*', '.gitlab-ci.yml']

def git(d, *a):
    return subprocess.run(['git', '-C', d, *a], capture_output=True, text=True, errors='replace').stdout

for d in sys.argv[1:]:
    repo = d.rstrip('/').split('/')[-2].replace('+', '/', 1)
    head = git(d, 'rev-parse', 'HEAD').strip()
    if not head:
        continue
    for path in git(d, 'ls-tree', '-r', '--name-only', 'HEAD').splitlines():
        if not any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path.split('/')[-1], p) for p in FILES):
            continue
        text = git(d, 'show', f'HEAD:{path}')
        in_matrix = False
        for line in text.splitlines():
            m = ASSIGN.search(line)
            if m:
                print(f'{m.group(1)}\t{repo}\t{head}\t{path}')
                continue
            if re.match(r'^\s*app_id:\s*$', line):
                in_matrix = True
                continue
            if in_matrix:
                m = ITEM.match(line)
                if m:
                    print(f'{m.group(1)}\t{repo}\t{head}\t{path}')
                else:
                    in_matrix = False

# Second pass: ids a repository's README gives in a configuration example
# ("component": "<id>" as in processor definitions, or "componentId": "<id>").
README = re.compile(r'"(?:component|componentId)"\s*:\s*"(' + ID + r')"')
for d in sys.argv[1:]:
    repo = d.rstrip('/').split('/')[-2].replace('+', '/', 1)
    head = git(d, 'rev-parse', 'HEAD').strip()
    if not head:
        continue
    for path in git(d, 'ls-tree', '--name-only', 'HEAD').splitlines():
        if not path.lower().startswith('readme'):
            continue
        for m in README.finditer(git(d, 'show', f'HEAD:{path}')):
            print(f'{m.group(1)}\t{repo}\t{head}\t{path}')
