--
-- PostgreSQL database dump
--


-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: adminuser; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.adminuser (
    id integer NOT NULL,
    email character varying(254) NOT NULL,
    password_hash character varying(255) NOT NULL,
    bank_id integer,
    network_id integer,
    failed_logins integer NOT NULL,
    locked_until timestamp without time zone,
    created_at timestamp without time zone NOT NULL
);


--
-- Name: adminuser_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.adminuser_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: adminuser_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.adminuser_id_seq OWNED BY public.adminuser.id;


--
-- Name: apikey; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.apikey (
    id integer NOT NULL,
    client_id integer NOT NULL,
    key_id character varying(32) NOT NULL,
    digest character varying(64) NOT NULL,
    created_at timestamp without time zone NOT NULL,
    revoked_at timestamp without time zone
);


--
-- Name: apikey_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.apikey_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: apikey_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.apikey_id_seq OWNED BY public.apikey.id;


--
-- Name: bank; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.bank (
    id integer NOT NULL,
    code character varying(64) NOT NULL,
    name character varying(200) NOT NULL,
    network_id integer
);


--
-- Name: bank_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.bank_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: bank_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.bank_id_seq OWNED BY public.bank.id;


--
-- Name: client; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.client (
    id integer NOT NULL,
    clientkey character varying(64) NOT NULL,
    name character varying(200) NOT NULL,
    bank_id integer,
    network_id integer,
    pass_digest character varying(64) NOT NULL,
    created_at timestamp without time zone NOT NULL,
    widget_key character varying(64),
    widget_secret character varying(64),
    widget_origins text NOT NULL,
    CONSTRAINT client_check CHECK (((bank_id IS NULL) <> (network_id IS NULL)))
);


--
-- Name: client_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.client_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: client_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.client_id_seq OWNED BY public.client.id;


--
-- Name: customerday; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.customerday (
    merchant_id integer NOT NULL,
    day date NOT NULL,
    bank_id integer NOT NULL,
    user_id character varying(254) NOT NULL,
    network_id integer,
    anonymous boolean NOT NULL,
    new_customer boolean NOT NULL,
    discounted boolean NOT NULL
);


--
-- Name: feedback; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.feedback (
    id integer NOT NULL,
    public_id character varying(32) NOT NULL,
    channel character varying(16) NOT NULL,
    client_id integer,
    bank_id integer NOT NULL,
    offer_id integer NOT NULL,
    merchant_id integer NOT NULL,
    outlet_id integer,
    feedback_type_id integer NOT NULL,
    user_id character varying(254) NOT NULL,
    latitude real,
    longitude real,
    accuracy_m real,
    distance_m integer,
    radius_m integer NOT NULL,
    verdict character varying(32) NOT NULL,
    offer_status character varying(16) NOT NULL,
    comment text NOT NULL,
    created_at timestamp without time zone NOT NULL,
    received_at timestamp without time zone,
    outlet_inferred boolean NOT NULL,
    ip_hash character varying(64),
    device_hash character varying(64),
    anonymous boolean NOT NULL,
    new_customer boolean NOT NULL,
    repeat_visit boolean NOT NULL,
    suspicion character varying(64) NOT NULL,
    uncounted boolean NOT NULL
);


--
-- Name: feedback_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.feedback_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: feedback_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.feedback_id_seq OWNED BY public.feedback.id;


--
-- Name: feedbacktype; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.feedbacktype (
    id integer NOT NULL,
    slug character varying(64) NOT NULL,
    label character varying(200) NOT NULL,
    active boolean NOT NULL
);


--
-- Name: merchant; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.merchant (
    id integer NOT NULL,
    code character varying(64) NOT NULL,
    name character varying(200) NOT NULL,
    category character varying(100)
);


--
-- Name: merchant_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.merchant_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: merchant_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.merchant_id_seq OWNED BY public.merchant.id;


--
-- Name: merchantday; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.merchantday (
    scope character varying(32) NOT NULL,
    day date NOT NULL,
    merchant_id integer NOT NULL,
    feedback_type integer NOT NULL,
    city character varying(100) NOT NULL,
    reports integer NOT NULL,
    customer_days integer NOT NULL,
    score double precision NOT NULL,
    verified_reports integer NOT NULL,
    verified_customer_days integer NOT NULL,
    verified_score double precision NOT NULL,
    unverified_customer_days integer NOT NULL,
    away_customer_days integer NOT NULL,
    discounted_customer_days integer NOT NULL,
    expired_claims integer NOT NULL
);


--
-- Name: network; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.network (
    id integer NOT NULL,
    code character varying(64) NOT NULL,
    name character varying(200) NOT NULL
);


--
-- Name: network_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.network_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: network_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.network_id_seq OWNED BY public.network.id;


--
-- Name: offer; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.offer (
    id integer NOT NULL,
    code character varying(64) NOT NULL,
    title character varying(300) NOT NULL,
    bank_id integer,
    network_id integer,
    merchant_id integer NOT NULL,
    valid_from date NOT NULL,
    valid_to date NOT NULL,
    CONSTRAINT offer_check CHECK (((bank_id IS NULL) <> (network_id IS NULL)))
);


--
-- Name: offer_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.offer_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: offer_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.offer_id_seq OWNED BY public.offer.id;


--
-- Name: outlet; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.outlet (
    id integer NOT NULL,
    code character varying(64) NOT NULL,
    merchant_id integer NOT NULL,
    name character varying(200) NOT NULL,
    address character varying(500),
    city character varying(100) NOT NULL,
    latitude real,
    longitude real,
    radius_m integer
);


--
-- Name: outlet_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.outlet_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: outlet_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.outlet_id_seq OWNED BY public.outlet.id;


--
-- Name: sourceday; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.sourceday (
    merchant_id integer NOT NULL,
    day date NOT NULL,
    bank_id integer NOT NULL,
    source character varying(80) NOT NULL
);


--
-- Name: adminuser id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.adminuser ALTER COLUMN id SET DEFAULT nextval('public.adminuser_id_seq'::regclass);


--
-- Name: apikey id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.apikey ALTER COLUMN id SET DEFAULT nextval('public.apikey_id_seq'::regclass);


--
-- Name: bank id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.bank ALTER COLUMN id SET DEFAULT nextval('public.bank_id_seq'::regclass);


--
-- Name: client id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.client ALTER COLUMN id SET DEFAULT nextval('public.client_id_seq'::regclass);


--
-- Name: feedback id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.feedback ALTER COLUMN id SET DEFAULT nextval('public.feedback_id_seq'::regclass);


--
-- Name: merchant id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.merchant ALTER COLUMN id SET DEFAULT nextval('public.merchant_id_seq'::regclass);


--
-- Name: network id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.network ALTER COLUMN id SET DEFAULT nextval('public.network_id_seq'::regclass);


--
-- Name: offer id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.offer ALTER COLUMN id SET DEFAULT nextval('public.offer_id_seq'::regclass);


--
-- Name: outlet id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.outlet ALTER COLUMN id SET DEFAULT nextval('public.outlet_id_seq'::regclass);


--
-- Data for Name: adminuser; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.adminuser VALUES (1, 'ops@example.com', 'scrypt:32768:8:1$e8lbZngm2HSoEcpi$a081f48db93d0b067accc6f2545b0afd229cd093f0d6f985249829d8e8e0e7c7cc7a450e76fd06f3dbfc0732ba1eb16596b1c1debf73167f52beafbb67031c75', NULL, NULL, 0, NULL, '2026-11-28 06:56:59.894162');


--
-- Data for Name: apikey; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.apikey VALUES (1, 1, 'ak_3a722f0d41af', 'f60727ab3c15ac8c5dd7d08dbbbee550823fb4070cddb6aadc5a261b3c752a94', '2026-11-28 06:56:59.205398', NULL);


--
-- Data for Name: bank; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.bank VALUES (1, 'BANK1', 'First Bank', 1);
INSERT INTO public.bank VALUES (2, 'BANK2', 'Second Bank', 1);
INSERT INTO public.bank VALUES (3, 'BANK3', 'Lone Bank', NULL);


--
-- Data for Name: client; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.client VALUES (1, 'ck_d37753038bd2d77b2040', 'First Bank app', 1, NULL, '593b13ad07e2faf3a5c35be872a63e3b373eede7a6149e20b34f48fb2432cf8e', '2026-11-28 06:56:59.205398', 'wk_e57d1da0c4c30150fc8a', 'f0fbf7cdf9f01d09caafed449ebee32e566296d1129b432af54c5f49dd0b9a9a', '');


--
-- Data for Name: customerday; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.customerday VALUES (1, '2026-11-01', 1, 'asha@example.com', 1, false, true, false);
INSERT INTO public.customerday VALUES (1, '2026-11-01', 1, 'ravi@example.com', 1, false, true, false);
INSERT INTO public.customerday VALUES (2, '2026-11-02', 1, 'asha@example.com', 1, false, false, false);
INSERT INTO public.customerday VALUES (1, '2026-11-02', 1, 'device:abc123', 1, false, true, false);
INSERT INTO public.customerday VALUES (2, '2026-11-03', 1, 'ravi@example.com', 1, false, false, false);


--
-- Data for Name: feedback; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.feedback VALUES (1, 'fb_963fbfb6917f2052', 'import', 1, 1, 1, 1, 1, 1, 'asha@example.com', 19.059711, 72.82951, NULL, 13, 150, 'at_outlet', 'active', 'refused', '2026-11-01 10:00:00', '2026-11-28 06:57:00.736201', false, NULL, NULL, false, true, false, '', false);
INSERT INTO public.feedback VALUES (2, 'fb_f8d50de13cf36362', 'import', 1, 1, 1, 1, 1, 2, 'ravi@example.com', 19.0597, 72.8295, NULL, 11, 150, 'at_outlet', 'active', 'told expired', '2026-11-01 11:00:00', '2026-11-28 06:57:00.736201', false, NULL, NULL, false, true, false, '', false);
INSERT INTO public.feedback VALUES (3, 'fb_10b166528dbe84fc', 'import', 1, 1, 6, 2, 3, 1, 'asha@example.com', 12.935312, 77.62451, NULL, 13, 300, 'at_outlet', 'active', '', '2026-11-02 09:30:00', '2026-11-28 06:57:00.736201', false, NULL, NULL, false, false, false, '', false);
INSERT INTO public.feedback VALUES (4, 'fb_03d844ccfc1f8d87', 'import', 1, 1, 1, 1, 1, 4, 'device:abc123', 19.1097, 72.8295, NULL, 5571, 150, 'away_from_outlet', 'active', 'far away', '2026-11-02 12:00:00', '2026-11-28 06:57:00.736201', false, NULL, NULL, false, true, false, '', false);
INSERT INTO public.feedback VALUES (5, 'fb_7ce8e8e4ace703ae', 'import', 1, 1, 6, 2, 3, 3, 'ravi@example.com', 12.9353, 77.6245, NULL, 11, 300, 'at_outlet', 'active', 'no discount', '2026-11-03 18:45:00', '2026-11-28 06:57:00.736201', false, NULL, NULL, false, false, false, '', false);


--
-- Data for Name: feedbacktype; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.feedbacktype VALUES (1, 'merchant_declined', 'Merchant declined the offer', true);
INSERT INTO public.feedbacktype VALUES (2, 'offer_expired', 'Told the offer has expired', true);
INSERT INTO public.feedbacktype VALUES (3, 'discount_not_applied', 'Discount not applied to the bill', true);
INSERT INTO public.feedbacktype VALUES (4, 'staff_unaware', 'Staff did not know about the offer', true);
INSERT INTO public.feedbacktype VALUES (5, 'other', 'Something else went wrong', true);


--
-- Data for Name: merchant; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.merchant VALUES (1, 'M1', 'Cafe Aroma', 'cafe');
INSERT INTO public.merchant VALUES (2, 'M2', 'Urban Threads', NULL);


--
-- Data for Name: merchantday; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.merchantday VALUES ('all', '2026-11-01', 1, 1, '', 1, 1, 0.5, 1, 1, 0.5, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('all', '2026-11-01', 1, 0, 'Mumbai', 2, 2, 1, 2, 2, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('all', '2026-11-01', 1, 1, 'Mumbai', 1, 1, 0.5, 1, 1, 0.5, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('all', '2026-11-01', 1, 0, '', 2, 2, 1, 2, 2, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('bank:1', '2026-11-01', 1, 1, '', 1, 1, 0.5, 1, 1, 0.5, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('bank:1', '2026-11-01', 1, 0, 'Mumbai', 2, 2, 1, 2, 2, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('bank:1', '2026-11-01', 1, 1, 'Mumbai', 1, 1, 0.5, 1, 1, 0.5, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('bank:1', '2026-11-01', 1, 0, '', 2, 2, 1, 2, 2, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('network:1', '2026-11-01', 1, 1, '', 1, 1, 0.5, 1, 1, 0.5, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('network:1', '2026-11-01', 1, 0, 'Mumbai', 2, 2, 1, 2, 2, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('network:1', '2026-11-01', 1, 1, 'Mumbai', 1, 1, 0.5, 1, 1, 0.5, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('network:1', '2026-11-01', 1, 0, '', 2, 2, 1, 2, 2, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('all', '2026-11-01', 1, 2, 'Mumbai', 1, 1, 0.5, 1, 1, 0.5, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('all', '2026-11-01', 1, 2, '', 1, 1, 0.5, 1, 1, 0.5, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('bank:1', '2026-11-01', 1, 2, 'Mumbai', 1, 1, 0.5, 1, 1, 0.5, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('bank:1', '2026-11-01', 1, 2, '', 1, 1, 0.5, 1, 1, 0.5, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('network:1', '2026-11-01', 1, 2, 'Mumbai', 1, 1, 0.5, 1, 1, 0.5, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('network:1', '2026-11-01', 1, 2, '', 1, 1, 0.5, 1, 1, 0.5, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('all', '2026-11-02', 2, 1, '', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('all', '2026-11-02', 2, 0, 'Bengaluru', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('all', '2026-11-02', 2, 1, 'Bengaluru', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('all', '2026-11-02', 2, 0, '', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('bank:1', '2026-11-02', 2, 1, '', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('bank:1', '2026-11-02', 2, 0, 'Bengaluru', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('bank:1', '2026-11-02', 2, 1, 'Bengaluru', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('bank:1', '2026-11-02', 2, 0, '', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('network:1', '2026-11-02', 2, 1, '', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('network:1', '2026-11-02', 2, 0, 'Bengaluru', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('network:1', '2026-11-02', 2, 1, 'Bengaluru', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('network:1', '2026-11-02', 2, 0, '', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('all', '2026-11-02', 1, 0, 'Mumbai', 1, 1, 0.05, 0, 0, 0, 0, 1, 0, 0);
INSERT INTO public.merchantday VALUES ('all', '2026-11-02', 1, 4, '', 1, 1, 0.05, 0, 0, 0, 0, 1, 0, 0);
INSERT INTO public.merchantday VALUES ('all', '2026-11-02', 1, 4, 'Mumbai', 1, 1, 0.05, 0, 0, 0, 0, 1, 0, 0);
INSERT INTO public.merchantday VALUES ('all', '2026-11-02', 1, 0, '', 1, 1, 0.05, 0, 0, 0, 0, 1, 0, 0);
INSERT INTO public.merchantday VALUES ('bank:1', '2026-11-02', 1, 0, 'Mumbai', 1, 1, 0.05, 0, 0, 0, 0, 1, 0, 0);
INSERT INTO public.merchantday VALUES ('bank:1', '2026-11-02', 1, 4, '', 1, 1, 0.05, 0, 0, 0, 0, 1, 0, 0);
INSERT INTO public.merchantday VALUES ('bank:1', '2026-11-02', 1, 4, 'Mumbai', 1, 1, 0.05, 0, 0, 0, 0, 1, 0, 0);
INSERT INTO public.merchantday VALUES ('bank:1', '2026-11-02', 1, 0, '', 1, 1, 0.05, 0, 0, 0, 0, 1, 0, 0);
INSERT INTO public.merchantday VALUES ('network:1', '2026-11-02', 1, 0, 'Mumbai', 1, 1, 0.05, 0, 0, 0, 0, 1, 0, 0);
INSERT INTO public.merchantday VALUES ('network:1', '2026-11-02', 1, 4, '', 1, 1, 0.05, 0, 0, 0, 0, 1, 0, 0);
INSERT INTO public.merchantday VALUES ('network:1', '2026-11-02', 1, 4, 'Mumbai', 1, 1, 0.05, 0, 0, 0, 0, 1, 0, 0);
INSERT INTO public.merchantday VALUES ('network:1', '2026-11-02', 1, 0, '', 1, 1, 0.05, 0, 0, 0, 0, 1, 0, 0);
INSERT INTO public.merchantday VALUES ('all', '2026-11-03', 2, 3, 'Bengaluru', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('all', '2026-11-03', 2, 0, 'Bengaluru', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('all', '2026-11-03', 2, 3, '', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('all', '2026-11-03', 2, 0, '', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('bank:1', '2026-11-03', 2, 3, 'Bengaluru', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('bank:1', '2026-11-03', 2, 0, 'Bengaluru', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('bank:1', '2026-11-03', 2, 3, '', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('bank:1', '2026-11-03', 2, 0, '', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('network:1', '2026-11-03', 2, 3, 'Bengaluru', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('network:1', '2026-11-03', 2, 0, 'Bengaluru', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('network:1', '2026-11-03', 2, 3, '', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
INSERT INTO public.merchantday VALUES ('network:1', '2026-11-03', 2, 0, '', 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);


--
-- Data for Name: network; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.network VALUES (1, 'NET1', 'Test Network');


--
-- Data for Name: offer; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.offer VALUES (1, 'OF1', '10% off at Cafe Aroma', 1, NULL, 1, '2020-01-01', '2099-12-31');
INSERT INTO public.offer VALUES (2, 'OF2', 'Network offer at Cafe Aroma', NULL, 1, 1, '2020-01-01', '2099-12-31');
INSERT INTO public.offer VALUES (3, 'OF3', 'Expired offer', 1, NULL, 1, '2020-01-01', '2020-12-31');
INSERT INTO public.offer VALUES (4, 'OF4', 'Lone Bank at Urban Threads', 3, NULL, 2, '2020-01-01', '2099-12-31');
INSERT INTO public.offer VALUES (5, 'OF5', 'Future offer', 1, NULL, 1, '2099-01-01', '2099-12-31');
INSERT INTO public.offer VALUES (6, 'OF6', 'First Bank at Urban Threads', 1, NULL, 2, '2020-01-01', '2099-12-31');


--
-- Data for Name: outlet; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.outlet VALUES (1, 'O1', 1, 'Cafe Aroma, Bandra', '12 Hill Road', 'Mumbai', 19.0596, 72.8295, NULL);
INSERT INTO public.outlet VALUES (2, 'O2', 1, 'Cafe Aroma, kiosk', NULL, 'Mumbai', NULL, NULL, NULL);
INSERT INTO public.outlet VALUES (3, 'O3', 2, 'Urban Threads, Koramangala', NULL, 'Bengaluru', 12.9352, 77.6245, 300);


--
-- Data for Name: sourceday; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.sourceday VALUES (1, '2026-11-01', 1, 'new-customer-place:2');
INSERT INTO public.sourceday VALUES (1, '2026-11-02', 1, 'new-customer-place:1');
INSERT INTO public.sourceday VALUES (1, '2026-11-01', 1, 'new-customer-place:1');


--
-- Name: adminuser_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.adminuser_id_seq', 1, true);


--
-- Name: apikey_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.apikey_id_seq', 1, true);


--
-- Name: bank_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.bank_id_seq', 3, true);


--
-- Name: client_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.client_id_seq', 1, true);


--
-- Name: feedback_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.feedback_id_seq', 5, true);


--
-- Name: merchant_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.merchant_id_seq', 2, true);


--
-- Name: network_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.network_id_seq', 1, true);


--
-- Name: offer_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.offer_id_seq', 6, true);


--
-- Name: outlet_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.outlet_id_seq', 3, true);


--
-- Name: adminuser adminuser_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.adminuser
    ADD CONSTRAINT adminuser_pkey PRIMARY KEY (id);


--
-- Name: apikey apikey_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.apikey
    ADD CONSTRAINT apikey_pkey PRIMARY KEY (id);


--
-- Name: bank bank_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.bank
    ADD CONSTRAINT bank_pkey PRIMARY KEY (id);


--
-- Name: client client_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.client
    ADD CONSTRAINT client_pkey PRIMARY KEY (id);


--
-- Name: customerday customerday_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.customerday
    ADD CONSTRAINT customerday_pkey PRIMARY KEY (merchant_id, day, bank_id, user_id);


--
-- Name: feedback feedback_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.feedback
    ADD CONSTRAINT feedback_pkey PRIMARY KEY (id);


--
-- Name: feedbacktype feedbacktype_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.feedbacktype
    ADD CONSTRAINT feedbacktype_pkey PRIMARY KEY (id);


--
-- Name: merchant merchant_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.merchant
    ADD CONSTRAINT merchant_pkey PRIMARY KEY (id);


--
-- Name: merchantday merchantday_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.merchantday
    ADD CONSTRAINT merchantday_pkey PRIMARY KEY (scope, feedback_type, city, day, merchant_id);


--
-- Name: network network_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.network
    ADD CONSTRAINT network_pkey PRIMARY KEY (id);


--
-- Name: offer offer_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.offer
    ADD CONSTRAINT offer_pkey PRIMARY KEY (id);


--
-- Name: outlet outlet_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.outlet
    ADD CONSTRAINT outlet_pkey PRIMARY KEY (id);


--
-- Name: sourceday sourceday_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sourceday
    ADD CONSTRAINT sourceday_pkey PRIMARY KEY (merchant_id, day, bank_id, source);


--
-- Name: adminuser_bank_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX adminuser_bank_id ON public.adminuser USING btree (bank_id);


--
-- Name: adminuser_email; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX adminuser_email ON public.adminuser USING btree (email);


--
-- Name: adminuser_network_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX adminuser_network_id ON public.adminuser USING btree (network_id);


--
-- Name: apikey_client_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX apikey_client_id ON public.apikey USING btree (client_id);


--
-- Name: apikey_key_id; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX apikey_key_id ON public.apikey USING btree (key_id);


--
-- Name: bank_code; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX bank_code ON public.bank USING btree (code);


--
-- Name: bank_network_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX bank_network_id ON public.bank USING btree (network_id);


--
-- Name: client_bank_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX client_bank_id ON public.client USING btree (bank_id);


--
-- Name: client_clientkey; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX client_clientkey ON public.client USING btree (clientkey);


--
-- Name: client_network_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX client_network_id ON public.client USING btree (network_id);


--
-- Name: client_widget_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX client_widget_key ON public.client USING btree (widget_key);


--
-- Name: feedback_bank_id_user_id_created_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX feedback_bank_id_user_id_created_at ON public.feedback USING btree (bank_id, user_id, created_at);


--
-- Name: feedback_device; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX feedback_device ON public.feedback USING btree (bank_id, device_hash, created_at) WHERE (device_hash IS NOT NULL);


--
-- Name: feedback_ip_hash_created_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX feedback_ip_hash_created_at ON public.feedback USING btree (ip_hash, created_at) WHERE (ip_hash IS NOT NULL);


--
-- Name: feedback_merchant_id_created_at_bank_id_outlet_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX feedback_merchant_id_created_at_bank_id_outlet_id ON public.feedback USING btree (merchant_id, created_at, bank_id, outlet_id);


--
-- Name: feedback_uncounted; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX feedback_uncounted ON public.feedback USING btree (id) WHERE (uncounted = true);


--
-- Name: feedbacktype_slug; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX feedbacktype_slug ON public.feedbacktype USING btree (slug);


--
-- Name: merchant_code; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX merchant_code ON public.merchant USING btree (code);


--
-- Name: network_code; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX network_code ON public.network USING btree (code);


--
-- Name: offer_bank_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX offer_bank_id ON public.offer USING btree (bank_id);


--
-- Name: offer_code; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX offer_code ON public.offer USING btree (code);


--
-- Name: offer_merchant_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX offer_merchant_id ON public.offer USING btree (merchant_id);


--
-- Name: offer_network_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX offer_network_id ON public.offer USING btree (network_id);


--
-- Name: outlet_code; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX outlet_code ON public.outlet USING btree (code);


--
-- Name: outlet_merchant_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX outlet_merchant_id ON public.outlet USING btree (merchant_id);


--
-- Name: adminuser adminuser_bank_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.adminuser
    ADD CONSTRAINT adminuser_bank_id_fkey FOREIGN KEY (bank_id) REFERENCES public.bank(id);


--
-- Name: adminuser adminuser_network_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.adminuser
    ADD CONSTRAINT adminuser_network_id_fkey FOREIGN KEY (network_id) REFERENCES public.network(id);


--
-- Name: apikey apikey_client_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.apikey
    ADD CONSTRAINT apikey_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.client(id);


--
-- Name: bank bank_network_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.bank
    ADD CONSTRAINT bank_network_id_fkey FOREIGN KEY (network_id) REFERENCES public.network(id);


--
-- Name: client client_bank_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.client
    ADD CONSTRAINT client_bank_id_fkey FOREIGN KEY (bank_id) REFERENCES public.bank(id);


--
-- Name: client client_network_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.client
    ADD CONSTRAINT client_network_id_fkey FOREIGN KEY (network_id) REFERENCES public.network(id);


--
-- Name: customerday customerday_bank_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.customerday
    ADD CONSTRAINT customerday_bank_id_fkey FOREIGN KEY (bank_id) REFERENCES public.bank(id);


--
-- Name: customerday customerday_merchant_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.customerday
    ADD CONSTRAINT customerday_merchant_id_fkey FOREIGN KEY (merchant_id) REFERENCES public.merchant(id);


--
-- Name: customerday customerday_network_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.customerday
    ADD CONSTRAINT customerday_network_id_fkey FOREIGN KEY (network_id) REFERENCES public.network(id);


--
-- Name: feedback feedback_bank_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.feedback
    ADD CONSTRAINT feedback_bank_id_fkey FOREIGN KEY (bank_id) REFERENCES public.bank(id);


--
-- Name: feedback feedback_client_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.feedback
    ADD CONSTRAINT feedback_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.client(id);


--
-- Name: feedback feedback_feedback_type_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.feedback
    ADD CONSTRAINT feedback_feedback_type_id_fkey FOREIGN KEY (feedback_type_id) REFERENCES public.feedbacktype(id);


--
-- Name: feedback feedback_merchant_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.feedback
    ADD CONSTRAINT feedback_merchant_id_fkey FOREIGN KEY (merchant_id) REFERENCES public.merchant(id);


--
-- Name: feedback feedback_offer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.feedback
    ADD CONSTRAINT feedback_offer_id_fkey FOREIGN KEY (offer_id) REFERENCES public.offer(id);


--
-- Name: feedback feedback_outlet_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.feedback
    ADD CONSTRAINT feedback_outlet_id_fkey FOREIGN KEY (outlet_id) REFERENCES public.outlet(id);


--
-- Name: merchantday merchantday_merchant_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.merchantday
    ADD CONSTRAINT merchantday_merchant_id_fkey FOREIGN KEY (merchant_id) REFERENCES public.merchant(id);


--
-- Name: offer offer_bank_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.offer
    ADD CONSTRAINT offer_bank_id_fkey FOREIGN KEY (bank_id) REFERENCES public.bank(id);


--
-- Name: offer offer_merchant_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.offer
    ADD CONSTRAINT offer_merchant_id_fkey FOREIGN KEY (merchant_id) REFERENCES public.merchant(id);


--
-- Name: offer offer_network_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.offer
    ADD CONSTRAINT offer_network_id_fkey FOREIGN KEY (network_id) REFERENCES public.network(id);


--
-- Name: outlet outlet_merchant_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.outlet
    ADD CONSTRAINT outlet_merchant_id_fkey FOREIGN KEY (merchant_id) REFERENCES public.merchant(id);


--
-- Name: sourceday sourceday_bank_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sourceday
    ADD CONSTRAINT sourceday_bank_id_fkey FOREIGN KEY (bank_id) REFERENCES public.bank(id);


--
-- Name: sourceday sourceday_merchant_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sourceday
    ADD CONSTRAINT sourceday_merchant_id_fkey FOREIGN KEY (merchant_id) REFERENCES public.merchant(id);


--
-- PostgreSQL database dump complete
--


