#!/usr/bin/env bash
# The template-update workflow's logic (.github/workflows/template-update.yml runs it; see
# docs/upgrading.md). Run from a full clone of this repository, on the branch to update:
#
# 1. `cruft update` to the template's latest commit. Up to date: nothing to do.
# 2. The update lives on the branch template-update-<template commit, 12 chars>, one per template
#    commit. When that branch already exists on the remote it belongs to the people working on it:
#    this script never rewrites it (no force push, no reset). It only re-checks the branch head
#    for conflict markers and *.rej files and brings the pull request's description, draft state
#    and label up to date.
# 3. Otherwise: refuse, before pushing anything, an update touching .github/workflows/ when the
#    token cannot push workflow files; commit the update (conflicts included, as they are);
#    refresh uv.lock when the project has one (unless pyproject.toml itself is conflicted);
#    push the new branch and open a pull request: a draft labelled template-conflicts when
#    something is left to resolve.
#
# Settings (environment):
#   GH              the GitHub CLI (default: gh; it reads GH_TOKEN)
#   LOCK_COMMAND    refreshes the lock file (default: uv lock)
#   REMOTE          the remote to push to (default: origin)
#   PUSH_WORKFLOWS  true when the token may push .github/workflows/ (the `workflow` scope)
#   BASE_BRANCH     the pull requests' base (default: the checked-out branch)
set -euo pipefail
shopt -s inherit_errexit

GH=${GH:-gh}
LOCK_COMMAND=${LOCK_COMMAND:-uv lock}
REMOTE=${REMOTE:-origin}
PUSH_WORKFLOWS=${PUSH_WORKFLOWS:-false}
BASE_BRANCH=${BASE_BRANCH:-}

BRANCH_PREFIX="template-update-"
LABEL="template-conflicts"
LOCK_SUBJECT="Refresh uv.lock after the template update"
# A conflict left by `git apply -3` opens with "<<<<<<< ours" and closes with ">>>>>>> theirs".
MARKER='^(<{7}|>{7})( |$)'

log() { printf '%s\n' "$*" >&2; }
warn() { printf '::warning title=template update::%s\n' "$*" >&2; }

cruft_field() {
    python3 -c 'import json, sys; print(json.load(open(".cruft.json"))[sys.argv[1]] or "")' "$1"
}

# Paths holding more conflict-marker lines at $1 than at $2 (documentation quoting a conflict
# has markers on both sides and is not reported).
conflicted_files() {
    local ref=$1 base=$2 line path count earlier
    { git grep -c -I -E "$MARKER" "$ref" -- || true; } | while IFS= read -r line; do
        line=${line#"$ref":}
        path=${line%:*}
        count=${line##*:}
        earlier=$({ git grep -c -I -E "$MARKER" "$base" -- "$path" || true; } | sed 's/.*://')
        if [ "$count" -gt "${earlier:-0}" ]; then
            printf '%s\n' "$path"
        fi
    done
}

rejected_files() {
    git ls-tree -r --name-only "$1" | { grep -E '\.rej$' || true; }
}

# Whether pyproject.toml is among the files left to resolve.
pyproject_conflicted() {
    grep -qxE 'pyproject\.toml(\.rej)?' <<<"$conflicted"$'\n'"$rejected"
}

# Open update pull requests of older template commits (and of the former single branch).
superseded_prs() {
    # shellcheck disable=SC2016  # the backquotes are Markdown
    "$GH" pr list --state open --json number,headRefName --limit 100 | python3 -c '
import json, sys
prefix, branch = sys.argv[1], sys.argv[2]
for pr in json.load(sys.stdin):
    head = pr["headRefName"]
    if head != branch and (head.startswith(prefix) or head == "template-update"):
        print("#%s (`%s`)" % (pr["number"], head))
' "$BRANCH_PREFIX" "$branch"
}

# $1: the body file; $2: the lock file's state (refreshed, unchanged, skipped, failed, reminder,
# or empty when the project has no uv.lock). Reads $conflicted, $rejected and the run's names.
write_body() {
    local file=$1 lock=$2 path superseded
    {
        echo "\`cruft update\` from ${template}: \`${before:0:12}\` -> \`${after:0:12}\` (branch \`${branch}\`)."
        echo
        if [ -n "$conflicted$rejected" ]; then
            echo "**Conflicts to resolve before merging** (this pull request is a draft, labelled \`${LABEL}\`):"
            echo
            while IFS= read -r path; do
                [ -z "$path" ] || echo "- \`$path\`: conflict markers (<<<<<<< ours / >>>>>>> theirs)"
            done <<<"$conflicted"
            while IFS= read -r path; do
                [ -z "$path" ] || echo "- \`$path\`: a template hunk that could not be placed; apply it by hand, then delete the file"
            done <<<"$rejected"
            echo
            echo "Resolve them on this branch and push; the next run of the workflow re-checks the branch, updates this list and removes the label. Then mark the pull request ready."
        else
            echo "No conflict markers and no \`.rej\` files on this branch."
        fi
        echo
        case $lock in
            refreshed) echo "\`uv.lock\`: refreshed with \`${LOCK_COMMAND}\` (commit \"${LOCK_SUBJECT}\")." ;;
            unchanged) echo "\`uv.lock\`: \`${LOCK_COMMAND}\` ran and changed nothing." ;;
            skipped) echo "**\`uv.lock\` was not refreshed**: \`pyproject.toml\` has conflicts. Resolve them, run \`uv lock\` and commit \`uv.lock\` on this branch." ;;
            failed) echo "**\`uv.lock\` was not refreshed**: \`${LOCK_COMMAND}\` failed (see the workflow run's log). Fix \`pyproject.toml\`, run \`uv lock\` and commit \`uv.lock\` on this branch." ;;
            reminder) echo "\`uv.lock\`: when you change \`pyproject.toml\` on this branch, run \`uv lock\` and commit \`uv.lock\` too." ;;
        esac
        superseded=$(superseded_prs)
        if [ -n "$superseded" ]; then
            echo
            echo "Supersedes $(echo "$superseded" | paste -sd, - | sed 's/,/, /g'): this update holds their template changes too. Close them (carry over any commit of yours from their branches first)."
        fi
        echo
        echo "The workflow never rewrites this branch: commits pushed here are yours. Review the diff, let the \`ci\` workflow run, then merge."
    } >"$file"
    if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
        cat "$file" >>"$GITHUB_STEP_SUMMARY"
    fi
}

# $1: pull request number; $2: whether it is a draft; $3: whether it has the label.
mark_pr() {
    local number=$1 draft=$2 labelled=$3
    if [ -n "$conflicted$rejected" ]; then
        warn "pull request #$number has conflicts to resolve: $(printf '%s\n%s' "$conflicted" "$rejected" | tr -s '\n' ' ')"
        "$GH" label create "$LABEL" --color D93F0B \
            --description "A template update with conflicts left to resolve" --force >/dev/null
        if [ "$labelled" != true ]; then
            "$GH" api --method POST "repos/{owner}/{repo}/issues/$number/labels" \
                -f "labels[]=$LABEL" >/dev/null
        fi
        if [ "$draft" != true ]; then
            "$GH" pr ready "$number" --undo ||
                warn "could not turn pull request #$number back into a draft (the label marks it)"
        fi
    elif [ "$labelled" = true ]; then
        "$GH" api --method DELETE "repos/{owner}/{repo}/issues/$number/labels/$LABEL" >/dev/null
    fi
}

# $1: body file; $2: true to open it as a draft. Prints the new pull request's number.
create_pr() {
    local body=$1 draft=$2 url
    local args=(pr create --base "$base" --head "$branch"
        --title "Update from the template (${after:0:12})" --body-file "$body")
    if [ "$draft" = true ]; then
        if ! url=$("$GH" "${args[@]}" --draft); then
            # Draft pull requests need a public repository or a paid plan.
            warn "could not open a draft pull request; opening a ready one (the label marks it)"
            url=$("$GH" "${args[@]}")
        fi
    else
        url=$("$GH" "${args[@]}")
    fi
    url=$(printf '%s\n' "$url" | tail -n 1)
    log "opened $url"
    printf '%s\n' "${url##*/}"
}

workflow_scope_error() {
    cat >&2 <<EOF
::error title=template update needs the workflow scope::This template update changes files under .github/workflows/ and the token cannot push them. Nothing was pushed.
GitHub refuses a push that creates or changes a workflow file unless the token has the \`workflow\` scope, and the default GITHUB_TOKEN never has it.
Fix: add a repository secret TEMPLATE_UPDATE_TOKEN holding a fine-grained personal access token for this repository with Contents, Pull requests and Workflows set to read and write (a classic token: the \`repo\` and \`workflow\` scopes), then run the template-update workflow again.
Changed workflow files:
$1
EOF
}

# The update branch exists already: report on its head, never change it.
recheck() {
    local ref="refs/remotes/$REMOTE/$branch" prs number draft labelled state lock="" body
    git fetch -q "$REMOTE" "+refs/heads/$branch:$ref"
    local fork
    fork=$(git merge-base "$ref" "$start")
    conflicted=$(conflicted_files "$ref" "$fork")
    rejected=$(rejected_files "$ref")
    log "branch $branch exists on $REMOTE (head $(git rev-parse --short "$ref")): left as it is"
    if git cat-file -e "$ref:uv.lock" 2>/dev/null; then
        if pyproject_conflicted; then
            lock=skipped
        elif grep -qxF "$LOCK_SUBJECT" <<<"$(git log --format=%s "$fork..$ref")"; then
            lock=refreshed
        else
            lock=reminder
        fi
    fi
    prs=$("$GH" pr list --head "$branch" --state all --json number,state,isDraft,labels --limit 20)
    read -r number state draft labelled < <(printf '%s' "$prs" | python3 -c '
import json, sys
prs = json.load(sys.stdin)
opened = [pr for pr in prs if pr["state"] == "OPEN"]
if not prs:
    print("- NONE false false")
else:
    pr = (opened or prs)[0]
    labelled = any(label["name"] == sys.argv[1] for label in pr.get("labels", []))
    print(pr["number"], pr["state"], str(pr["isDraft"]).lower(), str(labelled).lower())
' "$LABEL")
    body=$(mktemp)
    case $state in
        OPEN)
            write_body "$body" "$lock"
            "$GH" api --method PATCH "repos/{owner}/{repo}/pulls/$number" -F "body=@$body" >/dev/null
            mark_pr "$number" "$draft" "$labelled"
            ;;
        NONE)
            write_body "$body" "$lock"
            local want_draft=false
            if [ -n "$conflicted$rejected" ]; then want_draft=true; fi
            number=$(create_pr "$body" "$want_draft")
            mark_pr "$number" "$want_draft" false
            ;;
        *)
            log "pull request #$number for $branch is ${state,,}: nothing to do"
            ;;
    esac
    rm -f "$body"
}

# A new update branch: commit, refresh the lock, push, open the pull request.
propose() {
    local workflows lock="" body number draft=false
    workflows=$(git status --porcelain --untracked-files=all -- .github/workflows)
    if [ -n "$workflows" ] && [ "$PUSH_WORKFLOWS" != true ]; then
        workflow_scope_error "$workflows"
        return 1
    fi
    git switch -q -c "$branch"
    git add -A
    git commit -q -m "Update from the template (${after:0:12})" \
        -m "cruft update from ${template}: ${before} -> ${after}"
    conflicted=$(conflicted_files HEAD "$start")
    rejected=$(rejected_files HEAD)
    if [ -f uv.lock ]; then
        if pyproject_conflicted; then
            lock=skipped
            warn "pyproject.toml has conflicts: uv.lock is not refreshed"
        elif bash -c "$LOCK_COMMAND" >&2; then
            if [ -n "$(git status --porcelain)" ]; then
                git add -A
                git commit -q -m "$LOCK_SUBJECT" -m "$LOCK_COMMAND"
                lock=refreshed
            else
                lock=unchanged
            fi
        else
            lock=failed
            draft=true
            warn "'$LOCK_COMMAND' failed: uv.lock is not refreshed"
            git reset -q --hard HEAD
        fi
    fi
    # No --force: if the branch appeared meanwhile, the push fails instead of replacing it.
    git push -q "$REMOTE" "refs/heads/$branch:refs/heads/$branch"
    body=$(mktemp)
    write_body "$body" "$lock"
    if [ -n "$conflicted$rejected" ]; then draft=true; fi
    number=$(create_pr "$body" "$draft")
    mark_pr "$number" "$draft" false
    rm -f "$body"
}

main() {
    local untracked
    base=${BASE_BRANCH:-$(git symbolic-ref --quiet --short HEAD)}
    start=$(git rev-parse HEAD)
    template=$(cruft_field template)
    before=$(cruft_field commit)
    untracked=$(git ls-files --others --exclude-standard)

    cruft update --skip-apply-ask --allow-untracked-files >&2
    after=$(cruft_field commit)
    if [ "$after" = "$before" ]; then
        log "up to date with $template at ${before:0:12}"
        return 0
    fi
    branch=$BRANCH_PREFIX${after:0:12}

    local status=0
    git ls-remote --exit-code --heads "$REMOTE" "refs/heads/$branch" >/dev/null || status=$?
    case $status in
        0)
            # Throw this run's update away; the branch on the remote is the one that counts.
            git reset -q --hard HEAD
            comm -13 <(printf '%s\n' "$untracked" | sort) \
                <(git ls-files --others --exclude-standard | sort) |
                while IFS= read -r path; do rm -f -- "$path"; done
            recheck
            ;;
        2) propose ;;
        *) log "cannot list the branches of $REMOTE"; return "$status" ;;
    esac
}

# The whole script is read before it runs: `cruft update` may rewrite this very file.
main "$@"; exit
