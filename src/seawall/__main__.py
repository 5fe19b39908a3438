from seawall.cli.main import run

run()
