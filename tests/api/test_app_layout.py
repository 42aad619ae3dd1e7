"""How the app is put together: every resource registered, pages that import nothing of the API."""
import pkgutil
import subprocess
import sys
from pathlib import Path

from werkzeug.routing import IntegerConverter

import api.resources
from api.requests import RecordIdConverter

ROOT = Path(__file__).resolve().parents[2]


def test_every_resource_module_is_in_the_list_create_app_registers():
    modules = {module.name for module in pkgutil.iter_modules(api.resources.__path__)}
    listed = {blueprint.import_name.rsplit(".", 1)[-1] for blueprint in api.resources.RESOURCES}

    assert listed == modules


def test_the_pages_import_nothing_of_the_api_so_either_can_be_imported_first():
    probe = ("import sys, web; "
             "assert not [name for name in sys.modules if name == 'api' or name.startswith('api.')]; "
             "import api; api.create_app")
    subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True)


def test_record_ids_have_their_own_converter_and_flasks_int_is_left_alone(app):
    assert app.url_map.converters["id"] is RecordIdConverter
    assert app.url_map.converters["int"] is IntegerConverter
