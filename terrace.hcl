# terrace project configuration, at the root of the repository: where the
# environments are and where their state is kept.

# Where environments live: each sub-directory is a root module, selected with
# `-e NAME` (environments/dev, environments/prod, ...). environments/preview is
# the template that `terrace env create pr-42 --from preview` instantiates.
environments_dir = "environments"

# Where state lives. The default is an embedded SQLite database in state/ (no
# server; fine for one person or the quickstart). Teams share a PostgreSQL or
# S3 store instead, e.g.
#   url = "postgres://terrace@db.internal:5432/terrace"
#   url = "s3://my-terrace-state/platform"
# The CI examples in examples/ keep this file as is and point terrace at the
# shared store through the TERRACE_STATE environment variable.
state {
  url = "sqlite:state/terrace.db"
}

# prod: a plan that deletes anything is refused unless `--allow-destructive`
# is given, which the apply ledger records (replacements are counted apart:
# max_replacements). The policy "prod-prevent-destroy" (policies/clusters.tf)
# denies deleting or replacing prod's registries, buckets, keys and cluster
# even then.
environment "prod" {
  max_deletes = 0
}
