"""`nettrain datasets list | get NAME`: the shipped CSV datasets and the downloadable ones."""

import click


@click.group(name="datasets")
def command():
    """List the shipped and downloadable datasets, or download one.

    \b
    nettrain datasets list
    nettrain datasets get mnist      # -> datasets/mnist/{train,test}.npz, {train,test}_images.npz
    nettrain datasets get fashion-mnist --dir data/fmnist --mirror https://host/path/
    """


@command.command(name="list")
def list_():
    """Show the shipped CSV datasets and the downloadable ones."""
    from nettrain.api import downloadable_datasets, shipped_datasets

    folder, shipped = shipped_datasets()
    click.echo(f"Shipped with nettrain ({folder}):")
    if not shipped:
        click.echo("  (none found)")
    width = max([len(name) for name, _, _ in shipped] + [14])
    for name, n_rows, n_cols in shipped:
        click.echo(f"  {name:<{width}}  {n_rows:>7,} rows  {n_cols:>3} columns")
    click.echo("\nDownloadable with `nettrain datasets get NAME`:")
    for name, title, downloaded in downloadable_datasets():
        status = f"  [downloaded: {downloaded}]" if downloaded else ""
        click.echo(f"  {name:<{width}}  {title}{status}")


@command.command()
@click.argument("name")
@click.option("--dir", "folder", type=click.Path(file_okay=False),
              help="Folder for the IDX files and the .npz files. Default: datasets/NAME.")
@click.option("--mirror", metavar="URL",
              help="http(s):// or file:// URL or local folder holding the four .gz files "
                   "(default: $NETTRAIN_MIRROR, else the published mirrors).")
def get(name, folder, mirror):
    """Download NAME (mnist, fashion-mnist), verify md5 and sha256, write train/test .npz
    (flat rows) and train/test_images.npz ((n, 1, 28, 28) images for conv2d layers)."""
    from nettrain.api import download_dataset

    train, test, *images = download_dataset(name, folder, mirror,
                                            report=lambda line: click.echo(f"  {line}"))
    as_images = f", and as images {' and '.join(map(str, images))}" if images else ""
    click.echo(f"Ready: {train} and {test}{as_images}. "
               "Name them as data.train and data.test in a config (paths in a config are "
               "relative to the config file).")
