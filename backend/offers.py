"""The catalogue as a client sees it: the offers its customers can use, with their outlets."""
from peewee import JOIN

from .feedback import served_bank
from .models import Bank, Merchant, Network, Offer, Outlet


def usable_offers(lookups, reporter, bank_code, today, default_radius_m):
    """The offers a reporter's customers can use, by code, each with its merchant's outlets.

    A bank's client: its bank's offers and its network's. A network's client: those of the
    bank named by bank_code (one on the network), else every offer of the network and of
    its banks. A bank_code the reporter does not serve raises ReportRejected. Two queries,
    however many offers: the offers, then their merchants' outlets.
    """
    bank_id = served_bank(lookups, reporter, bank_code).id if bank_code else reporter.bank_id
    usable = Offer.usable_by(bank_id, reporter.network_id if bank_id is None else None)
    offers = list(Offer.select(Offer, Merchant, Bank, Network).join(Merchant).switch(Offer)
                  .join(Bank, JOIN.LEFT_OUTER).switch(Offer).join(Network, JOIN.LEFT_OUTER)
                  .where(usable).order_by(Offer.code))
    outlets = {}
    merchants = Offer.select(Offer.merchant).where(usable)
    for outlet in Outlet.select().where(Outlet.merchant.in_(merchants)).order_by(Outlet.code):
        outlets.setdefault(outlet.merchant_id, []).append({
            "outlet_code": outlet.code, "name": outlet.name, "address": outlet.address, "city": outlet.city,
            "latitude": outlet.latitude, "longitude": outlet.longitude,
            "radius_m": outlet.radius_m or default_radius_m})
    return [
        {"offer_code": offer.code, "title": offer.title, "merchant_code": offer.merchant.code,
         "merchant_name": offer.merchant.name, "valid_from": offer.valid_from.isoformat(),
         "valid_to": offer.valid_to.isoformat(), "status": offer.status_on(today),
         "bank_code": offer.bank.code if offer.bank_id else None,
         "network_code": offer.network.code if offer.network_id else None,
         "outlets": outlets.get(offer.merchant_id, [])}
        for offer in offers
    ]
