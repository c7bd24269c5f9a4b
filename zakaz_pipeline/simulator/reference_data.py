"""The fixed lists the generator draws from: cities and their venues, event titles,
admission zones and their prices, buyers' names, sites, payment types, UTM tags, discounts.

Data, not logic: a reader tuning what a fake account looks like edits only this file,
and the generator's code stays free of long literals. Values mimic the anonymized real
samples beside QTICKETS_API.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from zakaz_pipeline.qtickets.rules import CENT
from zakaz_pipeline.simulator.rendering import ROUBLE


@dataclass(frozen=True)
class City:
    id: int
    name: str
    timezone: str
    host: str
    place_name: str
    place_address: str
    coordinates: tuple[float, float]


CITIES = (
    City(1, "Москва", "Europe/Moscow", "moscow", "ДК «Меридиан»", "ул. Профсоюзная, 61", (55.667, 37.553)),
    City(24, "Томск", "Asia/Krasnoyarsk", "tomsk", "Центр культуры", "просп. Ленина, 36", (56.4695, 84.9476)),
    City(
        68, "Барнаул", "Asia/Novokuznetsk", "barnaul", "ДК «Современник»", "Павловский тракт, 188", (53.3495, 83.6377)
    ),
    City(4, "Новосибирск", "Asia/Novosibirsk", "novosibirsk", "ДК «Прогресс»", "Красный просп., 167", (55.058, 82.915)),
    City(3, "Екатеринбург", "Asia/Yekaterinburg", "ekaterinburg", "ДК «Урал»", "ул. Ленина, 50", (56.839, 60.605)),
    City(
        9, "Калининград", "Europe/Kaliningrad", "kaliningrad", "ДК «Янтарь»", "Ленинский просп., 30", (54.711, 20.511)
    ),
)
SEATED_TITLES = (
    ("Щелкунчик", "shchelkunchik"),
    ("Холодное сердце", "kholodnoe-serdtse"),
    ("Снежная королева", "snezhnaya-koroleva"),
    ("Лебединое озеро", "lebedinoe-ozero"),
    ("Концерт «Звуки кино»", "kontsert-zvuki-kino"),
    ("Ревизор", "revizor"),
    ("Джазовый вечер", "dzhazovyj-vecher"),
    ("Стендап-шоу", "stendap-shou"),
)
ADMISSION_TITLES = (
    ("Интерактивная выставка «Мир кубиков»", "vystavka-mir-kubikov"),
    ("Выставка динозавров", "vystavka-dinozavrov"),
    ("Музей иллюзий", "muzej-illyuzij"),
    ("Мастер-классы для детей", "master-klassy-dlya-detej"),
)
ADMISSION_ZONES = (
    ("vzroslyj-bilet", "Взрослый билет", (490, 590, 700)),
    ("detskij-bilet", "Детский билет", (290, 390, 450)),
    ("lgotnyj-bilet", "Льготный билет", (250, 350)),
    ("semejnyj-bilet", "Семейный билет", (1200, 1500)),
)
SEATED_ZONE_TITLES = {"PARTERRE": "Партер", "BALCONY": "Балкон"}
MALE_NAMES = (
    ("Иван", "Иванов"),
    ("Алексей", "Смирнов"),
    ("Сергей", "Кузнецов"),
    ("Дмитрий", "Попов"),
    ("Андрей", "Соколов"),
    ("Михаил", "Лебедев"),
    ("Павел", "Новиков"),
)
FEMALE_NAMES = (
    ("Мария", "Иванова"),
    ("Ольга", "Смирнова"),
    ("Анна", "Кузнецова"),
    ("Елена", "Попова"),
    ("Наталья", "Соколова"),
    ("Татьяна", "Лебедева"),
    ("Ирина", "Новикова"),
)
SITES = ({"id": 1356, "host": "bilety-demo.рф"}, {"id": 16, "host": "qtickets.ru"})
NUMERIC_PAYMENT_TYPES = ("4326371", "3449832")
UTM_VALUES = {
    "utm_source": ("insta", "vk", "yandex", "telegram"),
    "utm_medium": ("cpc", "posty", "stories", "opisanie"),
    "utm_campaign": ("anons", "mamy", "62384014", "novyj-god"),
    "utm_content": ("banner1", "video", "text"),
    "utm_term": ("bilety", "spektakl", "vystavka"),
}
UTM_SHAPES = (
    ("utm_source",),
    ("utm_source", "utm_medium"),
    ("utm_source", "utm_medium", "utm_campaign"),
    ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"),
)
# (discount id, share off, rounding): most promo codes round to roubles, a few to kopecks,
# which is where the real API's float amounts come from.
DISCOUNTS = (
    (6861, Decimal("0.40"), ROUBLE),
    (6896, Decimal("0.30"), ROUBLE),
    (6897, Decimal("0.20"), ROUBLE),
    (6926, Decimal("0.10"), ROUBLE),
    (6986, Decimal("0.15"), CENT),
    (6997, Decimal("0.125"), CENT),
)
FREE_DISCOUNT = 6840
