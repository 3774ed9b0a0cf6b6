"""keras-zoo hook implementations of zoo-recommenders. Light: no TensorFlow here, only specs
and the ``zoo recommend`` / ``zoo data interactions`` commands, whose work is done by
:mod:`zoo_recommenders.api` and :mod:`zoo_recommenders.data`."""

import json

import click

import zoo

ZOO_CONTRACT = 3
TASKS = "zoo_recommenders.tasks:"


@zoo.hookimpl
def zoo_models():
    return [
        zoo.Model("two_tower", "zoo_recommenders.models:build_two_tower",
                  task=TASKS + "RetrievalTask", aliases=("dual_encoder",),
                  summary="User and item towers, in-batch sampled softmax retrieval (keras-rs)"),
        zoo.Model("matrix_factorization", "zoo_recommenders.models:build_matrix_factorization",
                  task=TASKS + "RatingTask", aliases=("mf",),
                  summary="Explicit-rating matrix factorization with biases (RMSE)"),
        zoo.Model("item_knn", "zoo_recommenders.models:build_item_knn",
                  task=TASKS + "CooccurrenceTask", aliases=("itemknn",),
                  summary="Item-item cosine co-occurrence collaborative filter (the baseline)"),
    ]


@zoo.hookimpl
def zoo_commands(cli):
    @cli.command("recommend")
    @click.argument("run", type=click.Path(file_okay=False))
    @click.option("--user", "users", multiple=True, required=True,
                  help="User id to recommend for (repeatable).")
    @click.option("--k", default=10, show_default=True, type=click.IntRange(min=1),
                  help="Items per user.")
    @click.option("--json", "as_json", is_flag=True,
                  help="Print {user: [{item, score}, ...]} as JSON.")
    def recommend_command(run, users, k, as_json):
        """Top-K items for each --user from the recommender trained in RUN.

        Items a user had in training are left out; unknown users get the most popular items.
        """
        from zoo_recommenders.api import recommend

        recs = recommend(run, list(users), k=k)
        for user, note in recs.notes.items():
            click.echo(f"note: {user}: {note}", err=True)
        if as_json:
            click.echo(json.dumps(recs.items, indent=2))
            return
        for user, items in recs.items.items():
            click.secho(user, bold=True)
            for rank, entry in enumerate(items, 1):
                click.echo(f"  {rank:2d}. {entry['item']}  {entry['score']:.4f}")


@zoo.hookimpl
def zoo_data_commands(data):
    @data.command("interactions")
    @click.argument("out", type=click.Path(dir_okay=False))
    @click.option("--users", default=1000, show_default=True, type=click.IntRange(min=1))
    @click.option("--items", default=400, show_default=True, type=click.IntRange(min=2))
    @click.option("--genres", default=8, show_default=True, type=click.IntRange(min=1))
    @click.option("--per-user", default=30, show_default=True, type=click.IntRange(min=3))
    @click.option("--seed", default=0, show_default=True, type=int)
    def interactions_command(out, users, items, genres, per_user, seed):
        """Write synthetic user,item,rating,timestamp interactions to OUT (a CSV).

        Users favour one or two item genres; items have skewed popularity.
        """
        from zoo_recommenders.data import write_synthetic

        summary = write_synthetic(out, n_users=users, n_items=items, n_genres=genres,
                                  per_user=per_user, seed=seed)
        click.echo(f"Wrote {summary['interactions']} interactions of {summary['users']} "
                   f"users and {summary['items']} items to {summary['path']}")
