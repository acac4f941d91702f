"""Pure rule modules must not depend on Django: import each with Django made unimportable."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PURE_MODULES = [
    "ucis.kernel.money", "ucis.kernel.periods", "ucis.kernel.errors", "ucis.kernel.snapshots",
    "ucis.org.tree", "ucis.org.roles", "ucis.demo.cityplan", "ucis.demo.registryplan", "ucis.customers.identity",
    "ucis.customers.exchange",
    "ucis.customers.extrafields", "ucis.customers.documents",
    "ucis.metering.validation", "ucis.metering.estimation", "ucis.metering.apportion", "ucis.metering.mqtt_link",
    "ucis.tariffs.rating", "ucis.tariffs.latefees", "ucis.tariffs.definitions", "ucis.demo.readplan",
    "ucis.ledger.chart", "ucis.ledger.allocation",
    "ucis.payments.notices", "ucis.payments.wechat", "ucis.payments.alipay", "ucis.payments.sandbox",
    "ucis.payments.bankfile", "ucis.payments.carddevice",
    "ucis.billing.printing", "ucis.knowledge.ngrams",
]


def test_pure_modules_import_without_django():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'django' or name.startswith('django.'):\n"
        "            raise ImportError('django is blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        + "".join(f"import {m}\n" for m in PURE_MODULES)
        + "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_kernel_has_no_django_import_in_source():
    for path in (ROOT / "ucis" / "kernel").glob("*.py"):
        assert "django" not in path.read_text(encoding="utf-8"), path
