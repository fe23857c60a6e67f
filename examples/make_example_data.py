"""Write the example corpus that the refinery examples run on into ``examples/data/``.

Every product, query and utterance in the example corpus is synthetic: it is composed from the
hand-written vocabularies and templates below, which were written for this project, so the data
carries no third-party text and ships under the project's own license. The generator is seeded
and uses only the standard library, so rerunning it reproduces the committed files byte for byte.

Run it from the repository root::

    python examples/make_example_data.py
"""

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path

SEED = 20240611
DATA_DIR = Path(__file__).resolve().parent / "data"
PRODUCTS_PER_CATEGORY = 20
JUDGED_QUERIES = 200
TRAIN_PER_INTENT = 16
TEST_PER_INTENT = 8

# Words that keep their capitals when a title-cased phrase is used inside a sentence.
PROPER_WORDS = ("Japanese", "German", "Egyptian", "Turkish", "Damascus", "Dutch", "Wi-Fi")


@dataclass(frozen=True)
class ProductType:
    """One kind of product in a category; empty variants or colours fall back to the category's."""

    name: str
    use: str
    sizes: tuple[str, ...]
    variants: tuple[str, ...] = ()
    colours: tuple[str, ...] = ()


@dataclass(frozen=True)
class Category:
    name: str
    department: str
    price_range: tuple[float, float]
    brands: tuple[str, ...]
    variants: tuple[str, ...]
    colours: tuple[str, ...]
    features: tuple[str, ...]
    types: tuple[ProductType, ...]


@dataclass(frozen=True)
class Product:
    sku: str
    category: Category
    kind: ProductType
    brand: str
    variant: str
    size: str
    colour: str
    description: str
    price: float

    @property
    def title(self) -> str:
        return f"{self.brand} {self.variant} {self.kind.name}, {self.size}, {self.colour}"

    def to_document(self) -> dict[str, str | float]:
        return {
            "sku": self.sku,
            "title": self.title,
            "description": self.description,
            "category": self.category.name,
            "department": self.category.department,
            "price": self.price,
        }


@dataclass(frozen=True)
class Intent:
    """A target intent of the shopping assistant, with the catalogue category it maps onto."""

    name: str
    category: str
    items: tuple[tuple[str, str], ...]  # (item asked for, what it is for)
    features: tuple[str, ...]


T = ProductType

CATEGORIES = (
    Category(
        name="cookware",
        department="kitchen",
        price_range=(18, 140),
        brands=("Hartwell", "Copperfield", "Ironvale", "Panwise"),
        variants=(
            "Non-Stick Aluminium",
            "Enamelled Cast Iron",
            "Ceramic-Coated",
            "Granite-Effect Non-Stick",
        ),
        colours=("Black", "Graphite", "Red", "Teal", "Cream"),
        features=(
            "works on gas, electric and induction hobs",
            "is oven safe up to 220C",
            "has riveted stay-cool handles",
            "comes with a tempered glass lid",
            "is dishwasher safe",
            "heats evenly with no hot spots",
        ),
        types=(
            T("Frying Pan", "searing steaks and frying eggs", ("20 cm", "24 cm", "28 cm")),
            T("Saucepan", "sauces, porridge and boiling vegetables", ("16 cm", "18 cm", "20 cm")),
            T(
                "Stockpot",
                "stocks, soups and batch cooking pasta",
                ("24 cm", "28 cm"),
                ("Enamelled Steel", "Non-Stick Aluminium", "Hard-Anodised"),
            ),
            T(
                "Wok",
                "stir fries and quick high-heat cooking",
                ("28 cm", "30 cm"),
                ("Carbon Steel", "Pre-Seasoned Cast Iron", "Non-Stick Aluminium"),
                ("Black", "Graphite"),
            ),
            T("Saute Pan", "shallow frying and one-pan dinners", ("24 cm", "28 cm")),
            T(
                "Casserole Dish",
                "slow braises and stews in the oven",
                ("24 cm", "28 cm"),
                ("Enamelled Cast Iron", "Ceramic-Coated"),
            ),
            T("Griddle Pan", "chargrilled vegetables and steaks", ("26 cm", "28 cm")),
        ),
    ),
    Category(
        name="small_appliances",
        department="kitchen",
        price_range=(25, 260),
        brands=("Brevo", "Kitchora", "Zestline", "Voltaire Home"),
        variants=("Brushed Steel", "Matte-Finish", "Gloss", "Retro-Style"),
        colours=("Black", "White", "Sage Green", "Cream", "Red"),
        features=(
            "has a compact footprint for small kitchens",
            "has dishwasher-safe removable parts",
            "runs quietly",
            "comes with a two-year guarantee",
            "has a cool-touch exterior",
            "has simple dial controls",
        ),
        types=(
            T("Kettle", "boiling water for tea, coffee and cooking", ("1.5 L", "1.7 L")),
            T("Toaster", "toasting bread, bagels and crumpets", ("2-Slice", "4-Slice")),
            T("Blender", "smoothies, soups and crushed ice", ("1.5 L", "2 L")),
            T("Air Fryer", "crispy chips and roast vegetables with little oil", ("4 L", "5.5 L")),
            T("Coffee Machine", "espresso, cappuccino and lattes at home", ("1.2 L", "1.8 L")),
            T("Stand Mixer", "bread dough, cake batter and meringues", ("4.5 L", "5.5 L")),
            T("Food Processor", "chopping, slicing and grating vegetables", ("2.1 L", "3 L")),
        ),
    ),
    Category(
        name="cutlery",
        department="kitchen",
        price_range=(12, 220),
        brands=("Kirensteel", "Bladewright", "Oakhone", "Tamura Forge"),
        variants=(
            "German Stainless Steel",
            "Damascus Steel",
            "High-Carbon Steel",
            "Japanese VG10 Steel",
        ),
        colours=("Black", "Walnut", "Olive Wood", "Red"),
        features=(
            "holds a razor-sharp edge",
            "has a full tang for balance",
            "is hand-forged and individually sharpened",
            "comes with a protective blade guard",
            "has an ergonomic non-slip handle",
            "should be hand washed to protect the edge",
        ),
        types=(
            T(
                "Chef's Knife",
                "chopping vegetables, slicing meat and everyday prep",
                ("20 cm", "23 cm"),
            ),
            T("Santoku Knife", "fine slicing, dicing and mincing herbs", ("16 cm", "18 cm")),
            T("Bread Knife", "cutting crusty loaves without crushing them", ("20 cm", "23 cm")),
            T("Paring Knife", "peeling, trimming and small detailed cuts", ("9 cm", "10 cm")),
            T("Carving Knife", "carving roasts, ham and turkey", ("20 cm", "25 cm")),
            T(
                "Knife Block Set",
                "stocking a new kitchen with the essential blades",
                ("5-Piece", "7-Piece"),
            ),
            T("Steak Knife Set", "serving steaks and chops at the table", ("4-Piece", "6-Piece")),
        ),
    ),
    Category(
        name="tableware",
        department="kitchen",
        price_range=(15, 120),
        brands=("Loamware", "Whitby Table", "Porcelaine Nord", "Tidecrest"),
        variants=("Stoneware", "Porcelain", "Bone China", "Reactive-Glaze Stoneware"),
        colours=("White", "Charcoal", "Sage Green", "Navy", "Speckled Oat"),
        features=(
            "is dishwasher and microwave safe",
            "is chip resistant for everyday use",
            "stacks neatly in the cupboard",
            "mixes and matches with the rest of the range",
            "makes a thoughtful housewarming gift",
            "looks smart enough for dinner guests",
        ),
        types=(
            T(
                "Dinner Plate Set",
                "everyday family meals and dinner parties",
                ("4 Plates", "6 Plates"),
            ),
            T("Pasta Bowl Set", "pasta, salads and noodle dishes", ("4 Bowls", "6 Bowls")),
            T("Side Plate Set", "starters, desserts and bread", ("4 Plates", "6 Plates")),
            T("Mug Set", "tea, coffee and hot chocolate", ("4 Mugs", "6 Mugs")),
            T("Serving Platter", "sharing roasts, salads and party food", ("35 cm", "40 cm")),
            T(
                "Flatware Set",
                "laying the table for everyday meals and guests",
                ("16-Piece", "24-Piece"),
                ("18/10 Stainless Steel", "Brushed Stainless Steel"),
                ("Silver", "Matte Black", "Gold"),
            ),
            T(
                "Wine Glass Set",
                "serving red and white wine at dinner",
                ("4 Glasses", "6 Glasses"),
                ("Crystal-Clear Glass", "Lead-Free Crystal", "Stemless Glass"),
                ("Clear", "Smoke Grey"),
            ),
        ),
    ),
    Category(
        name="bedding",
        department="home",
        price_range=(20, 180),
        brands=("Dreamhaven", "Linenloft", "Softmoor", "Northdown"),
        variants=(
            "Egyptian Cotton 400TC",
            "Washed Linen",
            "Brushed Cotton",
            "Bamboo Lyocell",
            "Cotton Percale",
        ),
        colours=("White", "Dusty Pink", "Slate Grey", "Ochre", "Navy"),
        features=(
            "is machine washable at 40C",
            "gets softer with every wash",
            "is OEKO-TEX certified",
            "stays cool for hot sleepers",
            "has a hidden button fastening",
            "comes in a reusable cotton bag",
        ),
        types=(
            T(
                "Duvet Cover Set",
                "refreshing the bedroom with soft, breathable covers",
                ("Single", "Double", "King"),
            ),
            T(
                "Fitted Sheet",
                "a smooth, snug fit on deep mattresses",
                ("Single", "Double", "King"),
            ),
            T(
                "Duvet",
                "warm, comfortable sleep through the colder months",
                ("Single", "Double", "King"),
                ("Hollowfibre 10.5 Tog", "Goose Down 13.5 Tog", "Microfibre 4.5 Tog"),
                ("White",),
            ),
            T(
                "Pillow Pair",
                "side and back sleepers who need firm neck support",
                ("Standard", "King"),
                ("Memory Foam", "Hollowfibre", "Duck Feather"),
                ("White",),
            ),
            T(
                "Mattress Topper",
                "adding a softer layer to a firm mattress",
                ("Double", "King"),
                ("Memory Foam", "Microfibre", "Wool"),
                ("White",),
            ),
            T(
                "Bed Throw",
                "layering over the bed on chilly nights",
                ("130 x 170 cm", "150 x 200 cm"),
                ("Chunky Knit", "Waffle Cotton", "Faux Fur"),
            ),
        ),
    ),
    Category(
        name="bath_towels",
        department="home",
        price_range=(6, 90),
        brands=("Aquaplush", "Tidewell", "Cotswold Loom", "Pureterry"),
        variants=(
            "Egyptian Cotton 600gsm",
            "Turkish Cotton",
            "Zero-Twist Cotton",
            "Bamboo Blend",
            "Quick-Dry Waffle",
        ),
        colours=("White", "Teal", "Charcoal", "Blush Pink", "Sand"),
        features=(
            "is highly absorbent and quick drying",
            "stays fluffy wash after wash",
            "has a handy hanging loop",
            "is woven from long-staple cotton",
            "is machine washable at 60C",
            "has a decorative dobby border",
        ),
        types=(
            T("Bath Towel", "drying off after a bath or shower", ("70 x 130 cm",)),
            T("Bath Sheet", "wrapping up in generous comfort after a shower", ("90 x 160 cm",)),
            T("Hand Towel", "the bathroom sink or guest cloakroom", ("50 x 90 cm",)),
            T("Towel Bale", "kitting out a family bathroom in one go", ("6-Piece", "8-Piece")),
            T("Bath Mat", "a soft, absorbent landing outside the shower", ("50 x 80 cm",)),
            T("Beach Towel", "the beach, the pool and summer holidays", ("90 x 180 cm",)),
            T("Face Cloth Set", "washing and removing make-up", ("4 Cloths", "6 Cloths")),
        ),
    ),
    Category(
        name="lighting",
        department="home",
        price_range=(15, 220),
        brands=("Lumora", "Brightwick", "Halden Lighting", "Glowcraft"),
        variants=("Brushed Brass", "Matte Black Metal", "Ceramic", "Rattan", "Opal Glass"),
        colours=("Linen", "Ivory", "Charcoal", "Sage"),
        features=(
            "takes a standard E27 bulb, sold separately",
            "has an inline rocker switch",
            "works with dimmer switches",
            "gives a warm, diffused glow",
            "is rated for LED bulbs up to 10 W",
            "casts soft light without glare",
        ),
        types=(
            T("Table Lamp", "bedside tables and reading corners", ("45 cm", "60 cm")),
            T(
                "Floor Lamp",
                "lighting a living room corner or reading chair",
                ("150 cm", "165 cm"),
                ("Brushed Brass", "Matte Black Metal", "Oak Tripod"),
            ),
            T(
                "Ceiling Pendant",
                "kitchen islands, dining tables and hallways",
                ("30 cm", "40 cm"),
                ("Opal Glass", "Smoked Glass", "Woven Rattan", "Spun Metal"),
                ("Natural", "Black", "White", "Amber"),
            ),
            T(
                "LED Desk Lamp",
                "focused task lighting when working or studying",
                ("40 cm", "50 cm"),
                ("Aluminium", "Matte Metal", "Wireless-Charging"),
                ("Black", "White", "Silver"),
            ),
            T("Wall Light", "hallways, stairs and bedroom walls", ("Single", "Twin")),
            T(
                "LED Strip Light",
                "accent lighting under cabinets and behind TVs",
                ("2 m", "5 m"),
                ("Warm White", "Colour-Changing RGB", "Smart Wi-Fi"),
                ("White", "Black"),
            ),
        ),
    ),
    Category(
        name="power_tools",
        department="tools",
        price_range=(35, 320),
        brands=("Torqline", "Ampforge", "Dynabolt", "Ridgeway Pro"),
        variants=("18V Cordless", "18V Brushless", "12V Compact", "Corded 240V"),
        colours=("Yellow", "Teal", "Red", "Orange", "Green"),
        features=(
            "has variable speed control",
            "has a built-in LED work light",
            "comes with a three-year warranty when registered",
            "has a soft-grip handle to reduce vibration",
            "is compact and well balanced for one-handed use",
            "has an electronic brake for safer stopping",
        ),
        types=(
            T(
                "Drill Driver",
                "drilling holes in wood and metal and driving screws",
                ("Kit with Carry Case", "Bare Tool"),
            ),
            T(
                "Combi Drill",
                "drilling into masonry, wood and metal",
                ("Kit with Carry Case", "Kit with Accessory Set", "Bare Tool"),
            ),
            T(
                "Impact Driver",
                "driving long screws and bolts quickly",
                ("Kit with Carry Case", "Bare Tool"),
            ),
            T(
                "Circular Saw",
                "straight cuts through timber and sheet material",
                ("Kit with Carry Case", "Bare Tool"),
            ),
            T(
                "Jigsaw",
                "curved cuts in wood, laminate and plastic",
                ("Kit with Accessory Set", "Bare Tool"),
            ),
            T(
                "Random Orbit Sander",
                "smoothing wood before painting or varnishing",
                ("Kit with Accessory Set", "Bare Tool"),
            ),
            T(
                "Angle Grinder",
                "cutting metal and tile and removing rust",
                ("Kit with Carry Case", "Bare Tool"),
            ),
        ),
    ),
    Category(
        name="hand_tools",
        department="tools",
        price_range=(6, 95),
        brands=("Granitehand", "Steelmark", "Forgeline", "Benchwell"),
        variants=("Heavy-Duty", "Professional", "Trade", "Soft-Grip"),
        colours=("Red/Black", "Yellow/Black", "Blue", "Orange"),
        features=(
            "carries a lifetime guarantee",
            "has a cushioned bi-material handle",
            "is made from hardened, tempered steel",
            "has a rust-resistant finish",
            "hangs neatly on a pegboard",
            "is balanced for comfortable all-day use",
        ),
        types=(
            T("Claw Hammer", "driving and pulling nails in general carpentry", ("16 oz", "20 oz")),
            T(
                "Screwdriver Set",
                "assembling furniture and household repairs",
                ("6-Piece", "12-Piece"),
            ),
            T(
                "Adjustable Spanner",
                "plumbing jobs and tightening nuts and bolts",
                ("200 mm", "300 mm"),
            ),
            T("Hand Saw", "cutting timber, skirting and fence panels", ("500 mm", "550 mm")),
            T("Tape Measure", "measuring rooms, timber and furniture", ("5 m", "8 m")),
            T(
                "Spirit Level",
                "hanging shelves and pictures perfectly straight",
                ("600 mm", "1200 mm"),
                ("Aluminium Box-Section", "Magnetic"),
            ),
            T(
                "Socket Set",
                "car maintenance and bolt work",
                ("1/4 inch Drive 40-Piece", "1/2 inch Drive 24-Piece"),
                ("Chrome Vanadium", "Professional"),
            ),
        ),
    ),
    Category(
        name="paint",
        department="tools",
        price_range=(9, 75),
        brands=("Colourmere", "Dulwich & Pryce", "Brushworks", "Hue & Haven"),
        variants=("Matt", "Silk", "Eggshell", "Satin"),
        colours=(
            "Pure Brilliant White",
            "Sage Green",
            "Duck Egg Blue",
            "Charcoal Grey",
            "Warm Terracotta",
            "Soft Linen",
        ),
        features=(
            "covers up to 13 square metres per litre",
            "is low odour and low VOC",
            "is touch dry in two hours",
            "is scrubbable and wipeable",
            "gives rich, even colour in two coats",
            "cleans from brushes with water",
        ),
        types=(
            T(
                "Interior Wall Paint",
                "walls and ceilings in living rooms and bedrooms",
                ("2.5 L", "5 L"),
            ),
            T(
                "Kitchen & Bathroom Paint",
                "humid rooms where walls must resist moisture and mould",
                ("2.5 L",),
                ("Matt", "Soft Sheen"),
            ),
            T("Wood & Metal Paint", "doors, skirting boards and radiators", ("750 ml", "2.5 L")),
            T(
                "Masonry Paint",
                "exterior brick, render and pebbledash",
                ("5 L", "10 L"),
                ("Smooth", "Textured"),
            ),
            T(
                "Floor Paint",
                "garage floors and concrete steps",
                ("2.5 L", "5 L"),
                ("Satin", "Gloss"),
            ),
            T(
                "Primer Undercoat",
                "preparing bare wood, plaster or metal before the topcoat",
                ("750 ml", "2.5 L"),
                ("Quick-Dry", "Stain-Block"),
                ("Pure Brilliant White", "Charcoal Grey"),
            ),
            T(
                "Fence Paint",
                "fences, sheds and garden furniture",
                ("5 L",),
                ("Water-Based", "Shade-Protect"),
            ),
        ),
    ),
    Category(
        name="garden_tools",
        department="outdoor",
        price_range=(8, 85),
        brands=("Greenhaw", "Rootwell", "Thornbury Garden", "Fieldcraft"),
        variants=("Stainless Steel", "Carbon Steel", "Ash-Handled", "Lightweight"),
        colours=("Green", "Orange", "Black", "Natural Wood"),
        features=(
            "has a comfortable cushioned grip",
            "has a rust-resistant blade",
            "comes with a ten-year guarantee",
            "is light enough for long sessions in the garden",
            "has a hanging hole for easy shed storage",
            "is sharpened and ready to use",
        ),
        types=(
            T(
                "Digging Spade",
                "digging beds, planting shrubs and turning soil",
                ("Standard", "Border"),
            ),
            T(
                "Garden Fork",
                "breaking up heavy soil and lifting potatoes",
                ("Standard", "Border"),
            ),
            T(
                "Bypass Pruner",
                "pruning roses, shrubs and fruit trees",
                ("Small", "Medium"),
                ("Stainless Steel", "Carbon Steel", "Ratchet-Action"),
            ),
            T("Pruning Saw", "cutting back thick branches and deadwood", ("30 cm", "35 cm")),
            T(
                "Leaf Rake",
                "clearing leaves and grass clippings from lawns",
                ("Standard", "Wide"),
                ("Steel-Tine", "Lightweight", "Ash-Handled"),
            ),
            T("Hand Trowel", "potting up plants and planting bulbs", ("Standard",)),
            T(
                "Dutch Hoe",
                "weeding between rows of vegetables",
                ("Standard", "Long-Handled"),
            ),
        ),
    ),
    Category(
        name="outdoor_furniture",
        department="outdoor",
        price_range=(45, 900),
        brands=("Patiora", "Sunhollow", "Cedarline", "Alfresca"),
        variants=("Rattan-Effect", "FSC Acacia Wood", "Powder-Coated Steel", "Teak"),
        colours=("Grey", "Natural", "Charcoal", "Brown"),
        features=(
            "is weather resistant and UV stable",
            "folds flat for winter storage",
            "comes with showerproof cushions",
            "needs only simple self-assembly",
            "is treated to resist rot and fading",
            "wipes clean with warm soapy water",
        ),
        types=(
            T("Garden Dining Set", "alfresco meals on the patio", ("4-Seater", "6-Seater")),
            T("Sun Lounger", "relaxing by the pool or on the lawn in summer", ("Single",)),
            T("Bistro Set", "balconies and small patios", ("2-Seater",)),
            T("Garden Bench", "a quiet seat at the end of the garden", ("2-Seater", "3-Seater")),
            T(
                "Corner Sofa Set",
                "entertaining guests outdoors",
                ("5-Seater", "6-Seater"),
                ("Rattan-Effect", "FSC Acacia Wood", "Aluminium Frame"),
            ),
            T(
                "Parasol",
                "shading the patio table from the midday sun",
                ("2.7 m", "3 m"),
                ("Aluminium Crank", "Cantilever", "Wooden Pulley"),
                ("Grey", "Cream", "Terracotta", "Navy"),
            ),
        ),
    ),
    Category(
        name="pet_supplies",
        department="pets",
        price_range=(5, 120),
        brands=("Pawsome", "Barkwell", "Whiskerly", "Tailwind Pet"),
        variants=("Durable", "Eco-Friendly", "Premium"),
        colours=("Black", "Grey", "Navy", "Red", "Teal"),
        features=(
            "is easy to clean after muddy walks",
            "is vet-approved and pet safe",
            "is made from recycled materials",
            "is tough enough for energetic pets",
            "comes in a range of sizes for all breeds",
            "is designed for everyday comfort",
        ),
        types=(
            T(
                "Dog Bed",
                "dogs who love to curl up after walks",
                ("Medium", "Large"),
                ("Orthopaedic Memory Foam", "Plush Donut", "Waterproof"),
            ),
            T(
                "Cat Scratching Post",
                "keeping cats' claws off the furniture",
                ("60 cm", "90 cm"),
                ("Sisal", "Carpet-Wrapped"),
            ),
            T(
                "Dog Lead",
                "daily walks and recall training",
                ("1.2 m", "1.8 m"),
                ("Reflective Nylon", "Leather", "Rope"),
            ),
            T(
                "Pet Bowl Set",
                "food and water at mealtimes",
                ("Small", "Large"),
                ("Stainless Steel", "Ceramic", "Non-Slip Melamine"),
            ),
            T(
                "Cat Litter Tray",
                "indoor cats and kittens",
                ("Standard", "Hooded"),
                ("Odour-Control", "Recycled Plastic"),
            ),
            T(
                "Pet Carrier",
                "vet visits and travel with small pets",
                ("Small", "Medium"),
                ("Soft-Sided", "Hard-Shell"),
            ),
            T(
                "Dog Harness",
                "dogs that pull on the lead",
                ("Small", "Medium", "Large"),
                ("No-Pull", "Reflective Padded"),
            ),
        ),
    ),
    Category(
        name="office_chairs",
        department="office",
        price_range=(60, 650),
        brands=("Ergovia", "Deskwell", "Posturo", "Chairworks"),
        variants=("Mesh-Back", "Bonded Leather", "Fabric", "Vegan Leather"),
        colours=("Black", "Grey", "Blue", "White"),
        features=(
            "supports users up to 120 kg",
            "comes with a five-year warranty",
            "assembles in under twenty minutes",
            "has a breathable, supportive seat",
            "adjusts in height to suit most desks",
            "is easy to wipe clean",
        ),
        types=(
            T(
                "Ergonomic Office Chair",
                "long working days at a desk",
                ("Medium Back", "High Back"),
            ),
            T("Executive Chair", "a home office or boardroom", ("High Back",)),
            T("Task Chair", "everyday desk work in small spaces", ("Medium Back",)),
            T(
                "Gaming Chair",
                "long gaming sessions and streaming",
                ("High Back",),
                ("Bonded Leather", "Fabric", "Vegan Leather"),
            ),
            T(
                "Kneeling Chair",
                "an upright posture that eases lower back strain",
                ("Standard",),
                ("Fabric", "Wooden Frame"),
            ),
            T(
                "Drafting Stool",
                "standing desks and high counters",
                ("Standard", "Tall"),
                ("Mesh-Back", "Fabric"),
            ),
            T("Conference Chair", "meeting rooms and visitors", ("Pack of 2", "Pack of 4")),
        ),
    ),
    Category(
        name="storage",
        department="home",
        price_range=(8, 140),
        brands=("Stowly", "Neatnest", "Boxwell", "Tidyhaus"),
        variants=("Clear Plastic", "Fabric", "Woven Seagrass"),
        colours=("White", "Grey", "Natural", "Black", "Sage Green"),
        features=(
            "stacks neatly to save space",
            "is easy to wipe clean",
            "keeps contents dry and dust free",
            "is sturdy enough for daily use",
            "makes small spaces feel organised",
            "helps cut down on clutter",
        ),
        types=(
            T(
                "Food Storage Container Set",
                "leftovers, meal prep and packed lunches",
                ("5 Containers", "10 Containers"),
                ("Glass", "BPA-Free Plastic", "Bamboo-Lid Glass"),
            ),
            T(
                "Pantry Jar Set",
                "pasta, rice, flour and cereal",
                ("3 Jars", "6 Jars"),
                ("Airtight Glass", "Clip-Top Glass", "Stackable Acrylic"),
            ),
            T(
                "Spice Rack",
                "keeping herbs and spices tidy and in view",
                ("16-Jar", "24-Jar"),
                ("Bamboo", "Wall-Mounted Steel", "Rotating"),
            ),
            T("Storage Box Set", "wardrobes, shelves and under the bed", ("3 Boxes", "6 Boxes")),
            T(
                "Shelving Unit",
                "garages, pantries and utility rooms",
                ("4-Tier", "5-Tier"),
                ("Chrome Wire", "Bamboo", "Heavy-Duty Steel"),
            ),
            T(
                "Under-Bed Storage Bag",
                "bedding, winter clothes and spare linen",
                ("Pack of 2", "Pack of 4"),
                ("Zipped Fabric", "Vacuum-Seal"),
            ),
            T(
                "Bread Bin",
                "keeping loaves fresh on the worktop",
                ("Standard", "Large"),
                ("Enamel", "Bamboo Roll-Top", "Stainless Steel"),
            ),
        ),
    ),
)

DESCRIPTION_OPENERS = (
    "{a_variant} {type} from {brand}, made for {use}.",
    "Made for {use}, this {variant} {type} comes in {colour}.",
    "{brand}'s {variant} {type} is a dependable choice for {use}.",
    "Designed for {use}, the {brand} {type} is finished in {colour}.",
    "{a_colour} {variant} {type} for {use}.",
)
DESCRIPTION_CLOSERS = (
    "It {feature}.",
    "It {feature} and {feature2}.",
    "Customers like that it {feature}.",
    "Finished in {colour}, it {feature}.",
    "",
)

QUERY_TEMPLATES = (
    "{variant} {type} in {colour}",
    "{colour} {variant} {type}",
    "{variant} {type} {size} {colour}",
    "looking for {a_colour} {variant} {type}",
    "{brand} {variant} {type} {colour}",
    "{type} {variant} {colour} {size}",
    "need {a_variant} {type} in {colour}, {size}",
)

INTENTS = (
    Intent(
        name="buy_cookware",
        category="cookware",
        items=(
            ("a non-stick frying pan", "frying eggs"),
            ("a non-stick frying pan", "pancakes on a sunday"),
            ("a cast iron skillet", "searing steak"),
            ("a cast iron skillet", "cornbread in the oven"),
            ("a saucepan", "making porridge"),
            ("a saucepan", "boiling pasta for two"),
            ("a big stockpot", "making soup for the family"),
            ("a big stockpot", "batch cooking chilli"),
            ("a carbon steel wok", "weeknight stir fries"),
            ("a carbon steel wok", "egg fried rice"),
            ("a casserole dish", "slow cooked stews"),
            ("a casserole dish", "braising short ribs"),
            ("a griddle pan", "chargrilled vegetables"),
            ("a griddle pan", "steak with proper griddle marks"),
            ("a saute pan with a lid", "one-pan dinners"),
            ("a saute pan with a lid", "shallow frying chicken"),
        ),
        features=(
            "works on induction",
            "can go in the oven",
            "is dishwasher safe",
            "heats evenly",
            "won't warp",
        ),
    ),
    Intent(
        name="buy_kitchen_appliance",
        category="small_appliances",
        items=(
            ("a toaster", "quick breakfasts"),
            ("a toaster", "toasting bagels"),
            ("an electric kettle", "making tea all day"),
            ("an electric kettle", "the office kitchen"),
            ("a blender", "morning smoothies"),
            ("a blender", "blending soups"),
            ("an air fryer", "healthier chips"),
            ("an air fryer", "crispy chicken wings"),
            ("a coffee machine", "making espresso at home"),
            ("a coffee machine", "flat whites before work"),
            ("a stand mixer", "baking bread"),
            ("a stand mixer", "whipping up birthday cakes"),
            ("a food processor", "chopping veg for the week"),
            ("a food processor", "making pastry"),
            ("a rice cooker", "fluffy rice every time"),
            ("a rice cooker", "cooking for a big family"),
        ),
        features=(
            "is quiet",
            "has a timer",
            "is easy to clean",
            "fits on a small counter",
            "looks nice on the worktop",
        ),
    ),
    Intent(
        name="buy_knives",
        category="cutlery",
        items=(
            ("a chef's knife", "slicing tomatoes"),
            ("a chef's knife", "everyday chopping"),
            ("a bread knife", "cutting crusty bread"),
            ("a bread knife", "slicing sourdough"),
            ("a paring knife", "peeling apples"),
            ("a paring knife", "trimming vegetables"),
            ("a knife block set", "my first flat"),
            ("a knife block set", "a wedding gift"),
            ("a santoku knife", "dicing onions"),
            ("a santoku knife", "chopping herbs"),
            ("a set of steak knives", "steak night"),
            ("a set of steak knives", "a family barbecue"),
            ("a carving knife", "carving the sunday roast"),
            ("a carving knife", "the christmas turkey"),
            ("a Japanese knife", "thin slicing vegetables"),
            ("a Japanese knife", "filleting fish"),
        ),
        features=(
            "stays sharp",
            "has a comfortable handle",
            "is good for beginners",
            "is well balanced",
            "can go in the dishwasher",
        ),
    ),
    Intent(
        name="set_the_table",
        category="tableware",
        items=(
            ("dinner plates", "everyday family meals"),
            ("dinner plates", "a dinner party"),
            ("pasta bowls", "pasta night"),
            ("pasta bowls", "big summer salads"),
            ("side plates", "afternoon tea"),
            ("side plates", "starters at a dinner party"),
            ("wine glasses", "a dinner party"),
            ("wine glasses", "christmas dinner"),
            ("matching mugs", "morning coffee"),
            ("matching mugs", "guests at brunch"),
            ("serving platters", "hosting friends this weekend"),
            ("serving platters", "a summer barbecue"),
            ("stoneware dinner sets", "everyday family meals"),
            ("stoneware dinner sets", "a new home"),
            ("dessert bowls", "ice cream and puddings"),
            ("dessert bowls", "christmas dinner"),
        ),
        features=(
            "are dishwasher safe",
            "match a white dinner set",
            "are microwave safe",
            "look smart for guests",
            "won't chip easily",
        ),
    ),
    Intent(
        name="kitchen_storage",
        category="storage",
        items=(
            ("airtight food containers", "storing leftovers"),
            ("airtight food containers", "meal prep"),
            ("glass pantry jars", "organising my pantry"),
            ("glass pantry jars", "pasta and rice"),
            ("stackable storage tubs", "a tiny kitchen"),
            ("stackable storage tubs", "the cupboard under the sink"),
            ("spice jars", "a messy spice drawer"),
            ("spice jars", "refilling spices bought in bulk"),
            ("lunch boxes", "packed lunches"),
            ("lunch boxes", "school lunches"),
            ("shelf organisers", "a tiny kitchen"),
            ("shelf organisers", "deep corner cupboards"),
            ("tea and coffee canisters", "the worktop"),
            ("tea and coffee canisters", "a tidy coffee corner"),
            ("freezer boxes", "batch cooking"),
            ("freezer boxes", "freezing soups"),
        ),
        features=(
            "are airtight",
            "stack neatly in the cupboard",
            "are BPA free",
            "keep food fresh for longer",
            "are easy to clean",
        ),
    ),
)

UTTERANCE_TEMPLATES = (
    "need {item} that {feature}",
    "looking for {item} for {use}",
    "can you recommend {item} under {budget}?",
    "i want {item} that {feature}, any ideas?",
    "show me {item} for {use}",
    "what would you suggest for {use}? thinking of {item}",
    "help me find {item} that {feature}",
    "{item} for {use} under {budget} please",
    "shopping for {item} - must be under {budget}",
    "do you have {item} that {feature}?",
    "any recommendations for {item}? it's for {use}",
)
BUDGETS = ("$25", "$40", "$60", "$100", "$150")


def in_sentence(phrase: str) -> str:
    """Lower-case a title-cased phrase, keeping acronyms, model numbers and proper words."""
    words = []
    for word in phrase.split():
        keep = word in PROPER_WORDS or word[:2].isupper() or any(ch.isdigit() for ch in word)
        words.append(word if keep else word.lower())
    return " ".join(words)


def with_article(phrase: str) -> str:
    """Prefix "a" or "an" by how the first word is spoken (acronyms and numbers included)."""
    first = phrase.split()[0]
    if first[:2].isupper():
        vowel_sound = first[0] in "AEFHILMNORSX"
    elif first[0].isdigit():
        vowel_sound = first.startswith(("8", "11", "18"))
    else:
        vowel_sound = first[0].lower() in "aeiou"
    return f"{'an' if vowel_sound else 'a'} {phrase}"


def capitalise(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def describe(
    rng: random.Random, category: Category, kind: ProductType, brand: str, variant: str, colour: str
) -> str:
    opener = rng.choice(DESCRIPTION_OPENERS)
    closers = [c for c in DESCRIPTION_CLOSERS if "{colour}" not in opener or "{colour}" not in c]
    feature, feature2 = rng.sample(category.features, 2)
    fields = {
        "brand": brand,
        "type": in_sentence(kind.name),
        "variant": in_sentence(variant),
        "a_variant": with_article(in_sentence(variant)),
        "colour": in_sentence(colour),
        "a_colour": with_article(in_sentence(colour)),
        "use": kind.use,
        "feature": feature,
        "feature2": feature2,
    }
    sentences = (opener.format(**fields), rng.choice(closers).format(**fields))
    return " ".join(capitalise(s) for s in sentences if s)


def pick_combinations(rng: random.Random, category: Category) -> list[tuple[ProductType, str, str]]:
    """Choose distinct (type, variant, colour) combinations, cycling through the types."""
    pools = {}
    for kind in category.types:
        pool = [
            (variant, colour)
            for variant in kind.variants or category.variants
            for colour in kind.colours or category.colours
        ]
        rng.shuffle(pool)
        pools[kind.name] = pool
    if sum(len(pool) for pool in pools.values()) < PRODUCTS_PER_CATEGORY:
        raise ValueError(f"category {category.name} has too few combinations")
    picks: list[tuple[ProductType, str, str]] = []
    while len(picks) < PRODUCTS_PER_CATEGORY:
        for kind in category.types:
            if pools[kind.name] and len(picks) < PRODUCTS_PER_CATEGORY:
                picks.append((kind, *pools[kind.name].pop()))
    return picks


def build_catalogue(rng: random.Random) -> list[Product]:
    specs = [
        (category, *pick) for category in CATEGORIES for pick in pick_combinations(rng, category)
    ]
    rng.shuffle(specs)
    products = []
    for number, (category, kind, variant, colour) in enumerate(specs, start=1):
        brand = rng.choice(category.brands)
        low, high = category.price_range
        products.append(
            Product(
                sku=f"SKU-{number:05d}",
                category=category,
                kind=kind,
                brand=brand,
                variant=variant,
                size=rng.choice(kind.sizes),
                colour=colour,
                description=describe(rng, category, kind, brand, variant, colour),
                price=round(round(rng.uniform(low, high)) - 0.01, 2),
            )
        )
    return products


def shopping_query(rng: random.Random, product: Product) -> str:
    """A query naming the product's type, variant and colour, so it matches only that product."""
    variant = in_sentence(product.variant)
    colour = in_sentence(product.colour)
    query = rng.choice(QUERY_TEMPLATES).format(
        brand=product.brand,
        type=in_sentence(product.kind.name),
        variant=variant,
        a_variant=with_article(variant),
        colour=colour,
        a_colour=with_article(colour),
        size=product.size,
    )
    return query.lower()


def partial_match(rng: random.Random, target: Product, products: list[Product]) -> Product:
    """Same type with another variant or colour, another type in the category, or a sibling
    category in the same department."""
    same_type = [p for p in products if p.kind == target.kind and p != target]
    same_category = [p for p in products if p.category == target.category and p.kind != target.kind]
    related = [
        p
        for p in products
        if p.category.department == target.category.department and p.category != target.category
    ]
    return rng.choice(rng.choice([pool for pool in (same_type, same_category, related) if pool]))


def build_judgements(rng: random.Random, products: list[Product]) -> list[tuple[str, str, int]]:
    rows = []
    for target in rng.sample(products, JUDGED_QUERIES):
        query = shopping_query(rng, target)
        unrelated = [p for p in products if p.category.department != target.category.department]
        group = [
            (query, target.sku, 3),
            (query, partial_match(rng, target, products).sku, 2),
            (query, rng.choice(unrelated).sku, 1),
        ]
        rng.shuffle(group)
        rows.extend(group)
    return rows


def utterances(rng: random.Random, intent: Intent, count: int) -> list[str]:
    """Fill the utterance templates with the intent's slot values until `count` are distinct."""
    texts: list[str] = []
    while len(texts) < count:
        item, use = rng.choice(intent.items)
        text = rng.choice(UTTERANCE_TEMPLATES).format(
            item=item,
            feature=rng.choice(intent.features),
            use=use,
            budget=rng.choice(BUDGETS),
        )
        if text not in texts:
            texts.append(text)
    return texts


def build_target_splits(
    rng: random.Random,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    train, test = [], []
    for intent in INTENTS:
        texts = utterances(rng, intent, TRAIN_PER_INTENT + TEST_PER_INTENT)
        train.extend((text, intent.name) for text in texts[:TRAIN_PER_INTENT])
        test.extend((text, intent.name) for text in texts[TRAIN_PER_INTENT:])
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


def write_jsonl(path: Path, records: list[dict[str, str | float]]) -> None:
    with path.open("w", encoding="ascii", newline="\n") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")


def write_csv(path: Path, header: tuple[str, ...], rows: list[tuple[str | int, ...]]) -> None:
    with path.open("w", encoding="ascii", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def main() -> None:
    rng = random.Random(SEED)
    products = build_catalogue(rng)
    judgements = build_judgements(rng, products)
    train, test = build_target_splits(rng)

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    write_jsonl(DATA_DIR / "catalogue.jsonl", [p.to_document() for p in products])
    write_csv(DATA_DIR / "judgements.csv", ("query", "sku", "rating"), judgements)
    write_csv(DATA_DIR / "target_train.csv", ("utterance", "intent"), train)
    write_csv(DATA_DIR / "target_test.csv", ("utterance", "intent"), test)


if __name__ == "__main__":
    main()
