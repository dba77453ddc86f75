"""The widget's words in English and Hindi: every string a customer reads is here."""

TEXT = {
    "en": {
        "title": "Report a refused offer",
        "heading": "Was this offer refused?",
        "choose": "What happened?",
        "locating": "Checking where you are…",
        "confirm_heading": "Send this report?",
        "offer": "Offer",
        "place": "Where",
        "problem": "Problem",
        "location_shared": "Your location is included; your bank will compare it with the store's.",
        "location_missing": "We could not get your location. That's fine: your report still counts.",
        "offer_expired": "This offer ended on {date}. You can still send your report; your bank will see that it had ended.",
        "offer_not_started": "This offer starts on {date}. You can still send your report; your bank will see that it had not started.",
        "comment_label": "Anything to add? (optional)",
        "send": "Send report",
        "back": "Back",
        "thanks_heading": "Thank you",
        "thanks": "Your bank has your report and will look into it.",
        "duplicate": "You already reported this today, so it counts once.",
        "reference": "Reference",
        "sending": "Sending…",
        "problem_heading": "This form is not available",
        "unknown_key": "This feedback form is not set up for this page.",
        "signature": "This feedback form is not set up correctly (customer signature).",
        "bank_needed": "This feedback form is not set up correctly (bank).",
        "unknown_offer": "This offer is not one we know about.",
        "expired": "This form has expired. Please reload the page and try again.",
        "not_allowed": "This form can only be used on your bank's own page.",
        "rate_limited": "You have sent many reports in the last hour. Please try again later.",
        "invalid": "Something in this report could not be read. Please try again.",
    },
    "hi": {
        "title": "अस्वीकार किए गए ऑफ़र की शिकायत",
        "heading": "क्या यह ऑफ़र अस्वीकार किया गया?",
        "choose": "क्या हुआ?",
        "locating": "आपकी जगह देखी जा रही है…",
        "confirm_heading": "यह शिकायत भेजें?",
        "offer": "ऑफ़र",
        "place": "कहाँ",
        "problem": "समस्या",
        "location_shared": "आपकी जगह साथ भेजी जा रही है; बैंक इसे दुकान की जगह से मिलाएगा।",
        "location_missing": "हमें आपकी जगह नहीं मिली। कोई बात नहीं: आपकी शिकायत फिर भी गिनी जाएगी।",
        "offer_expired": "यह ऑफ़र {date} को समाप्त हो गया। आप फिर भी शिकायत भेज सकते हैं; बैंक देखेगा कि ऑफ़र समाप्त हो चुका था।",
        "offer_not_started": "यह ऑफ़र {date} से शुरू होगा। आप फिर भी शिकायत भेज सकते हैं; बैंक देखेगा कि ऑफ़र अभी शुरू नहीं हुआ था।",
        "comment_label": "कुछ और बताना है? (वैकल्पिक)",
        "send": "शिकायत भेजें",
        "back": "वापस",
        "thanks_heading": "धन्यवाद",
        "thanks": "आपके बैंक को आपकी शिकायत मिल गई है और वह इसकी जाँच करेगा।",
        "duplicate": "आप आज यह शिकायत पहले ही भेज चुके हैं, इसलिए यह एक बार गिनी जाएगी।",
        "reference": "संदर्भ",
        "sending": "भेजा जा रहा है…",
        "problem_heading": "यह फ़ॉर्म उपलब्ध नहीं है",
        "unknown_key": "यह फ़ीडबैक फ़ॉर्म इस पेज के लिए सेट नहीं है।",
        "signature": "यह फ़ीडबैक फ़ॉर्म सही से सेट नहीं है (ग्राहक हस्ताक्षर)।",
        "bank_needed": "यह फ़ीडबैक फ़ॉर्म सही से सेट नहीं है (बैंक)।",
        "unknown_offer": "यह ऑफ़र हमारे पास दर्ज नहीं है।",
        "expired": "इस फ़ॉर्म का समय समाप्त हो गया है। कृपया पेज दोबारा खोलें।",
        "not_allowed": "यह फ़ॉर्म केवल आपके बैंक के पेज पर इस्तेमाल हो सकता है।",
        "rate_limited": "आपने पिछले एक घंटे में बहुत सारी शिकायतें भेजी हैं। कृपया बाद में कोशिश करें।",
        "invalid": "इस शिकायत में कुछ पढ़ा नहीं जा सका। कृपया फिर से कोशिश करें।",
    },
}

TYPE_LABELS = {
    "hi": {
        "merchant_declined": "दुकानदार ने ऑफ़र देने से मना किया",
        "offer_expired": "कहा गया कि ऑफ़र समाप्त हो गया है",
        "discount_not_applied": "बिल पर छूट नहीं लगी",
        "staff_unaware": "कर्मचारियों को ऑफ़र की जानकारी नहीं थी",
        "other": "कुछ और गलत हुआ",
    },
}

LANGUAGES = tuple(TEXT)


def language(requested):
    """The supported language for a data-lang or browser value such as 'hi-IN'; English otherwise."""
    code = (requested or "").split("-")[0].lower()
    return code if code in TEXT else "en"


def type_label(feedback_type, lang):
    """A feedback type's label in lang, falling back to the catalogue's label."""
    return TYPE_LABELS.get(lang, {}).get(feedback_type.slug, feedback_type.label)
