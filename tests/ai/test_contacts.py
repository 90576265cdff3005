"""Contact extraction: Brazilian, Spanish-speaking and US phones; things that only look like phones."""

import pytest

from papo.ai.contacts import extract_email, extract_phone


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("meu zap (11) 98765-4321", "11987654321"),
        ("+55 11 98765 4321", "5511987654321"),
        ("11987654321", "11987654321"),
        ("pode ligar 55 (21) 3456-7890", "552134567890"),
        ("(21) 3456-7890", "2134567890"),
        ("meu cel antigo (11) 8765-4321", "1187654321"),  # without the 9th digit
        ("+55 (11) 98765-4321", "5511987654321"),
        ("+5511987654321", "5511987654321"),
        ("5511976543210", "5511976543210"),
        ("me chama no 98765-4321", "987654321"),
        ("whats 9 8765-4321", "987654321"),
        ("61 9 8123-4567", "61981234567"),
        ("tel 11.98765.4321", "11987654321"),
        ("meu número é 31987651234 tá?", "31987651234"),
        ("+52 55 1234 5678", "525512345678"),
        ("+52 1 55 1234 5678", "5215512345678"),
        ("+54 9 11 1234-5678", "5491112345678"),
        ("mi número es +57 300 123 4567", "573001234567"),
        ("llámame al 300 123 4567", "3001234567"),
        ("mi whatsapp 55 1234 5678", "5512345678"),
        ("+56 9 8765 4321", "56987654321"),
        ("+51 987 654 321", "51987654321"),
        ("+34 612 34 56 78", "34612345678"),
        ("call me at (555) 123-4567", "5551234567"),
        ("+1 555 123 4567", "15551234567"),
        ("text me 555-123-4567 after 5", "5551234567"),
        ("415.555.2671", "4155552671"),
        ("pedido 12345, meu whats é 11 98765-4321", "11987654321"),
        ("tel: 11 3456-7890 ou email joao.silva@gmail.com", "1134567890"),
        ("oi! 📱 (85) 98888-7777 obg", "85988887777"),
    ],
)
def test_phone_found(text: str, phone: str) -> None:
    assert extract_phone(text) == phone


@pytest.mark.parametrize(
    "text",
    [
        "custa R$ 1.299,90 no pix",
        "R$ 129,90",
        "fica 1.500,00 reais",
        "o apto custa 450.000",
        "1.500.000 reais",
        "US$ 1,200",
        "$ 45.000 pesos",
        "pedido 123456789",
        "meu pedido #11987654321 não chegou",
        "pedido nº 5544332211",
        "order #5551234567",
        "número do pedido: 1234567890",
        "cep 12345-678",
        "CEP: 01310-100",
        "meu cep é 04567000",
        "cpf 123.456.789-09",
        "meu cpf é 12345678909",
        "CPF: 529.982.247-25",
        "cnpj 12.345.678/0001-90",
        "dia 12/05/2024 às 14:30",
        "12-05-2024",
        "chego 14:30",
        "das 9h às 18h",
        "de 2023-2024",
        "codigo de rastreio BR123456789BR",
        "rastreio: 123456789012",
        "protocolo 2024051234567",
        "comprei 3 por 100",
        "tenho 2 filhos de 10 e 12 anos",
        "quero 10 unidades de 500 ml",
        "cartão final 4321",
        "boleto 23793381286000000123456789012345678900000012345",
        "",
        "sem número nenhum aqui",
    ],
)
def test_not_a_phone(text: str) -> None:
    assert extract_phone(text) is None


def test_first_of_several_phones() -> None:
    assert extract_phone("fixo (11) 3333-2222 ou cel (11) 99999-8888") == "1133332222"


@pytest.mark.parametrize(
    ("text", "email"),
    [
        ("manda pra Joao.Silva@Gmail.com.", "joao.silva@gmail.com"),
        ("contato: ana_b+loja@empresa.com.br ok", "ana_b+loja@empresa.com.br"),
        ("meu email é fe.oliveira@icloud.com, obrigada", "fe.oliveira@icloud.com"),
        ("my email is sarah.j@gmail.com", "sarah.j@gmail.com"),
        ("mi correo: lucia-fer@outlook.es", "lucia-fer@outlook.es"),
    ],
)
def test_email_found(text: str, email: str) -> None:
    assert extract_email(text) == email


@pytest.mark.parametrize("text", ["@maria_souza olha isso", "sem email", "me marca @loja.oficial", "a@b"])
def test_no_email(text: str) -> None:
    assert extract_email(text) is None
