//! `#[api_object]`: one declaration per API object of stages-api.
//!
//! The annotated struct is the object as every front shows it. Each field says, in one
//! `#[field(...)]` attribute, what the fronts and the store need to know of it (read-only or
//! write-only, required or defaulted, its rule, its names), and the macro derives the rest:
//!
//! * the output type itself: serde (REST, authentik's key order), utoipa (the OpenAPI response
//!   schema), async-graphql (`SimpleObject`, with a cost per field), a plain-selection fast path
//!   (`PlainObject`) and row decoding by column name (`FromQueryResult`);
//! * with `input(...)`: the raw input as a front hands it in (`<Name>Input`), read from DRF JSON
//!   (`from_json`) or from GraphQL (`<Name>CreateInput`, `<Name>UpdateInput`), checked by the
//!   shared rules (`check`) into `<Name>Changes` (defaults, changed columns by name, the change
//!   applied to the output), and the OpenAPI request schemas (`<Name>RequestSchema`,
//!   `<Name>PatchedRequestSchema`);
//! * with `view(...)`: a second output type made of some of the fields (authentik's narrower
//!   serializers, such as `FlowSet` of `Flow`), with an input of its own.
//!
//! The generated code calls the runtime in `stages_api::object` (rules, DRF parsing, value
//! conversions), so a field's behaviour lives in one place per kind, not per object.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::{format_ident, quote};
use syn::parse::Parser;
use syn::{
    Attribute, Expr, Fields, Ident, ItemStruct, LitStr, Path, Type, Visibility, parenthesized,
};

#[proc_macro_attribute]
pub fn api_object(args: TokenStream, item: TokenStream) -> TokenStream {
    match expand(args.into(), item.into()) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

#[derive(Default)]
struct InputConfig {
    rest: Option<LitStr>,
    patched: Option<LitStr>,
    create: Option<LitStr>,
    update: Option<LitStr>,
}

struct ViewConfig {
    name: Ident,
    schema: LitStr,
    description: LitStr,
    fields: Vec<Ident>,
    input: Option<InputConfig>,
}

#[derive(Default)]
struct ObjectConfig {
    schema: Option<LitStr>,
    description: Option<LitStr>,
    graphql: Option<LitStr>,
    complex: bool,
    stored: bool,
    input: Option<InputConfig>,
    views: Vec<ViewConfig>,
}

#[derive(Clone, PartialEq)]
enum Kind {
    Text,
    Secret,
    Slug,
    Flag,
    Number,
    Choice,
    Reference,
    Int32,
    Nested(Ident),
    /// Read-only values of any type (never written, never checked).
    Plain,
}

#[derive(Clone)]
struct FieldDef {
    ident: Ident,
    ty: Type,
    vis: Visibility,
    docs: Vec<Attribute>,
    read_only: bool,
    write_only: bool,
    required: bool,
    default: Option<Expr>,
    max_length: Option<Expr>,
    max_items: Option<Expr>,
    kind: Kind,
    graphql_name: Option<LitStr>,
    graphql_skip: bool,
    graphql_list: bool,
    rest_skip: bool,
    column: Option<LitStr>,
    computed: bool,
    constant: Option<Expr>,
    read_with: Option<Path>,
    schema_attrs: Vec<Tokens>,
    serde_attrs: Vec<Tokens>,
}

impl FieldDef {
    fn name(&self) -> String {
        self.ident.to_string()
    }

    fn column(&self) -> String {
        self.column
            .as_ref()
            .map_or_else(|| self.name(), LitStr::value)
    }

    fn writable(&self) -> bool {
        !self.read_only
    }

    fn in_output(&self) -> bool {
        !self.write_only
    }

    fn graphql_name(&self) -> String {
        self.graphql_name
            .as_ref()
            .map_or_else(|| camel_case(&self.name()), LitStr::value)
    }

    fn is_nested(&self) -> bool {
        matches!(self.kind, Kind::Nested(_))
    }
}

/// A schema name as the path utoipa's `as = …` takes.
fn schema_path(name: &LitStr) -> Ident {
    Ident::new(&name.value(), name.span())
}

fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn parse_parenthesized(input: syn::parse::ParseStream) -> syn::Result<Tokens> {
    let content;
    parenthesized!(content in input);
    content.parse()
}

fn parse_input_config(meta: &syn::meta::ParseNestedMeta) -> syn::Result<InputConfig> {
    let mut input = InputConfig::default();
    meta.parse_nested_meta(|m| {
        let value: LitStr = m.value()?.parse()?;
        if m.path.is_ident("rest") {
            input.rest = Some(value);
        } else if m.path.is_ident("patched") {
            input.patched = Some(value);
        } else if m.path.is_ident("create") {
            input.create = Some(value);
        } else if m.path.is_ident("update") {
            input.update = Some(value);
        } else {
            return Err(m.error("expected rest, patched, create or update"));
        }
        Ok(())
    })?;
    Ok(input)
}

fn parse_config(args: Tokens) -> syn::Result<ObjectConfig> {
    let mut config = ObjectConfig::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("schema") {
            config.schema = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("description") {
            config.description = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("graphql") {
            config.graphql = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("complex") {
            config.complex = true;
        } else if meta.path.is_ident("stored") {
            config.stored = true;
        } else if meta.path.is_ident("input") {
            config.input = Some(parse_input_config(&meta)?);
        } else if meta.path.is_ident("view") {
            let (mut name, mut schema, mut description) = (None, None, None);
            let (mut fields, mut input) = (Vec::new(), None);
            meta.parse_nested_meta(|m| {
                if m.path.is_ident("name") {
                    name = Some(m.value()?.parse::<Ident>()?);
                } else if m.path.is_ident("schema") {
                    schema = Some(m.value()?.parse::<LitStr>()?);
                } else if m.path.is_ident("description") {
                    description = Some(m.value()?.parse::<LitStr>()?);
                } else if m.path.is_ident("fields") {
                    m.parse_nested_meta(|f| {
                        fields.push(f.path.get_ident().cloned().ok_or(f.error("a field name"))?);
                        Ok(())
                    })?;
                } else if m.path.is_ident("input") {
                    input = Some(parse_input_config(&m)?);
                } else {
                    return Err(m.error("expected name, schema, description, fields or input"));
                }
                Ok(())
            })?;
            config.views.push(ViewConfig {
                name: name.ok_or(meta.error("a view needs a name"))?,
                schema: schema.ok_or(meta.error("a view needs a schema name"))?,
                description: description.ok_or(meta.error("a view needs a description"))?,
                fields,
                input,
            });
        } else {
            return Err(meta.error("unknown api_object option"));
        }
        Ok(())
    });
    parser.parse2(args)?;
    Ok(config)
}

fn type_is(ty: &Type, name: &str) -> bool {
    matches!(ty, Type::Path(p) if p.path.is_ident(name))
}

fn parse_field(field: &syn::Field) -> syn::Result<FieldDef> {
    let ident = field.ident.clone().expect("named fields");
    let mut def = FieldDef {
        ident,
        ty: field.ty.clone(),
        vis: field.vis.clone(),
        docs: field
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("doc"))
            .cloned()
            .collect(),
        read_only: false,
        write_only: false,
        required: false,
        default: None,
        max_length: None,
        max_items: None,
        kind: Kind::Plain,
        graphql_name: None,
        graphql_skip: false,
        graphql_list: false,
        rest_skip: false,
        column: None,
        computed: false,
        constant: None,
        read_with: None,
        schema_attrs: Vec::new(),
        serde_attrs: Vec::new(),
    };
    let mut explicit_kind = None;
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("field")) {
        attr.parse_nested_meta(|meta| {
            let flag = |name: &str| meta.path.is_ident(name);
            if flag("read_only") {
                def.read_only = true;
            } else if flag("write_only") {
                def.write_only = true;
            } else if flag("required") {
                def.required = true;
            } else if flag("computed") {
                def.computed = true;
            } else if flag("graphql_skip") {
                def.graphql_skip = true;
            } else if flag("graphql_list") {
                def.graphql_list = true;
            } else if flag("rest_skip") {
                def.rest_skip = true;
            } else if flag("secret") {
                explicit_kind = Some(Kind::Secret);
            } else if flag("slug") {
                explicit_kind = Some(Kind::Slug);
            } else if flag("choice") {
                explicit_kind = Some(Kind::Choice);
            } else if flag("reference") {
                explicit_kind = Some(Kind::Reference);
            } else if flag("int32") {
                explicit_kind = Some(Kind::Int32);
            } else if flag("nested") {
                explicit_kind = Some(Kind::Nested(meta.value()?.parse()?));
            } else if flag("default") {
                def.default = Some(meta.value()?.parse()?);
            } else if flag("constant") {
                def.constant = Some(meta.value()?.parse()?);
            } else if flag("read_with") {
                def.read_with = Some(meta.value()?.parse()?);
            } else if flag("max_length") {
                def.max_length = Some(meta.value()?.parse()?);
            } else if flag("max_items") {
                def.max_items = Some(meta.value()?.parse()?);
            } else if flag("graphql") {
                def.graphql_name = Some(meta.value()?.parse()?);
            } else if flag("column") {
                def.column = Some(meta.value()?.parse()?);
            } else if flag("schema") {
                def.schema_attrs.push(parse_parenthesized(meta.input)?);
            } else if flag("serde") {
                def.serde_attrs.push(parse_parenthesized(meta.input)?);
            } else {
                return Err(meta.error("unknown field option"));
            }
            Ok(())
        })?;
    }
    def.kind = match explicit_kind {
        Some(kind) => kind,
        None if type_is(&def.ty, "String") => Kind::Text,
        None if type_is(&def.ty, "bool") => Kind::Flag,
        None if type_is(&def.ty, "f64") => Kind::Number,
        None if def.read_only => Kind::Plain,
        None => {
            return Err(syn::Error::new_spanned(
                &field.ty,
                "a writable field of this type needs its kind: choice, reference, int32, secret, slug or nested = Type",
            ));
        }
    };
    if def.kind == Kind::Text && def.writable() && def.max_length.is_none() {
        return Err(syn::Error::new_spanned(
            &def.ident,
            "a writable text field needs max_length",
        ));
    }
    Ok(def)
}

fn expand(args: Tokens, item: Tokens) -> syn::Result<Tokens> {
    let config = parse_config(args)?;
    let item: ItemStruct = syn::parse2(item)?;
    let Fields::Named(named) = &item.fields else {
        return Err(syn::Error::new_spanned(
            &item,
            "api_object needs named fields",
        ));
    };
    let fields: Vec<FieldDef> = named
        .named
        .iter()
        .map(parse_field)
        .collect::<syn::Result<_>>()?;
    let name = &item.ident;
    let schema = config
        .schema
        .clone()
        .unwrap_or_else(|| LitStr::new(&name.to_string(), name.span()));
    let description = config
        .description
        .clone()
        .unwrap_or_else(|| LitStr::new("", name.span()));

    let mut out = Tokens::new();
    out.extend(output_struct(
        &item,
        &fields,
        &schema,
        &description,
        &config,
    )?);
    if config.stored {
        out.extend(from_query_result(name, config.graphql.is_some(), &fields));
    }
    if let Some(graphql) = &config.graphql {
        out.extend(plain_object(name, graphql, &fields));
    }
    if let Some(input) = &config.input {
        let writable: Vec<&FieldDef> = fields.iter().filter(|f| f.writable()).collect();
        out.extend(input_items(name, name, &writable, input, &description));
    }
    for view in &config.views {
        let selected: Vec<&FieldDef> =
            view.fields
                .iter()
                .map(|ident| {
                    fields.iter().find(|f| &f.ident == ident).ok_or_else(|| {
                        syn::Error::new_spanned(ident, "no such field in this object")
                    })
                })
                .collect::<syn::Result<_>>()?;
        out.extend(view_struct(name, view, &selected, true));
        if let Some(input) = &view.input {
            let writable: Vec<&FieldDef> =
                selected.iter().copied().filter(|f| f.writable()).collect();
            out.extend(input_items(
                &view.name,
                name,
                &writable,
                input,
                &view.description,
            ));
        }
    }
    Ok(out)
}

/// `#[schema(...)]` of an output field. Fields of a writable object are read-only or, when
/// optional on write, not required (authentik's schemas); an output-only object's are plain.
fn output_schema_attr(field: &FieldDef, writable_object: bool) -> Tokens {
    let mut parts: Vec<Tokens> = Vec::new();
    if writable_object && field.read_only {
        parts.push(quote!(read_only));
    } else if writable_object && !field.required {
        parts.push(quote!(required = false));
    }
    match field.kind {
        Kind::Slug => parts.push(quote!(max_length = 50, pattern = "^[-a-zA-Z0-9_]+$")),
        Kind::Int32 => parts.push(quote!(schema_with = crate::object::int32_schema)),
        _ => {}
    }
    parts.extend(field.schema_attrs.iter().cloned());
    if parts.is_empty() {
        Tokens::new()
    } else {
        quote!(#[schema(#(#parts),*)])
    }
}

fn output_struct(
    item: &ItemStruct,
    fields: &[FieldDef],
    schema: &LitStr,
    description: &LitStr,
    config: &ObjectConfig,
) -> syn::Result<Tokens> {
    let name = &item.ident;
    let vis = &item.vis;
    let schema = schema_path(schema);
    let attrs: Vec<&Attribute> = item.attrs.iter().collect();
    let graphql_derive = config
        .graphql
        .as_ref()
        .map(|_| quote!(, ::async_graphql::SimpleObject));
    let graphql_attr = config.graphql.as_ref().map(|graphql| {
        let complex = config.complex.then(|| quote!(, complex));
        quote!(#[graphql(name = #graphql, rename_fields = "camelCase" #complex)])
    });
    let out_fields = fields.iter().filter(|f| f.in_output()).map(|f| {
        let (ident, ty, docs, fvis) = (&f.ident, &f.ty, &f.docs, &f.vis);
        let schema_attr = output_schema_attr(f, config.input.is_some());
        let graphql_attr = config.graphql.as_ref().map(|_| {
            if f.graphql_skip {
                quote!(#[graphql(skip)])
            } else {
                let rename = f.graphql_name.as_ref().map(|n| quote!(name = #n,));
                if f.graphql_list {
                    quote!(#[graphql(#rename complexity = "crate::limits::graphql_list_cost(child_complexity)")])
                } else {
                    quote!(#[graphql(#rename complexity = 0)])
                }
            }
        });
        let mut serde_parts = f.serde_attrs.clone();
        if f.rest_skip {
            serde_parts.push(quote!(skip));
        }
        let serde_attr = (!serde_parts.is_empty()).then(|| quote!(#[serde(#(#serde_parts),*)]));
        quote! {
            #(#docs)*
            #schema_attr
            #graphql_attr
            #serde_attr
            #fvis #ident: #ty,
        }
    });
    Ok(quote! {
        #(#attrs)*
        #[derive(Clone, Debug, ::serde::Serialize, ::utoipa::ToSchema #graphql_derive)]
        #[schema(as = #schema, description = #description)]
        #graphql_attr
        #vis struct #name {
            #(#out_fields)*
        }
    })
}

/// Rows decoded by column name: stored fields from their columns, constants and computed fields
/// filled in, nested lists empty until the store adds them. A read may bring back only some
/// columns (`StoredObject::from_columns`, for a GraphQL selection): the others stay empty.
fn from_query_result(name: &Ident, graphql: bool, fields: &[FieldDef]) -> Tokens {
    let stored =
        |f: &&FieldDef| f.in_output() && f.constant.is_none() && !f.computed && !f.is_nested();
    // The stored fields in `STORED_COLUMNS` order: the layout of a read is indexed alike.
    let mut stored_index = 0usize;
    let inits = fields.iter().filter(|f| f.in_output()).map(|f| {
        let ident = &f.ident;
        let column = f.column();
        if let Some(constant) = &f.constant {
            quote!(#ident: #constant)
        } else if f.computed || f.is_nested() {
            quote!(#ident: ::core::default::Default::default())
        } else {
            let index = stored_index;
            stored_index += 1;
            let read = quote!(crate::object::StoredValue::read_column(
                row,
                pre,
                #column,
                layout[#index],
            )?);
            match &f.read_with {
                Some(read_with) => quote!(#ident: match #read {
                    ::core::option::Option::Some(stored) => #read_with(stored),
                    ::core::option::Option::None => ::core::default::Default::default(),
                }),
                None => quote!(#ident: #read.unwrap_or_default()),
            }
        }
    });
    let defaults = fields.iter().filter(|f| f.in_output()).map(|f| {
        let ident = &f.ident;
        match &f.constant {
            Some(constant) => quote!(#ident: #constant),
            None => quote!(#ident: ::core::default::Default::default()),
        }
    });
    // What a GraphQL selection needs: the key and the fields GraphQL does not show (references
    // its relations follow) always; every other stored field when the selection names it.
    let stored_columns = fields.iter().filter(stored).map(|f| {
        let column = f.column();
        if !graphql || f.graphql_skip || f.ident == "pk" {
            quote!((::core::option::Option::None, #column))
        } else {
            let shown = f.graphql_name();
            quote!((::core::option::Option::Some(#shown), #column))
        }
    });
    let stored_count = fields.iter().filter(stored).count();
    let column_names = fields.iter().filter(stored).map(FieldDef::column);
    let derived = fields
        .iter()
        .filter(|f| graphql && f.in_output() && f.computed && !f.graphql_skip)
        .map(FieldDef::graphql_name);
    let key = fields.iter().filter(stored).find(|f| f.ident == "pk");
    let key_column = key.map_or_else(String::new, FieldDef::column);
    let key_name = key.map_or_else(String::new, FieldDef::graphql_name);
    quote! {
        /// Every field empty but the constants: a write fills it from what it wrote.
        impl ::core::default::Default for #name {
            fn default() -> Self {
                #name { #(#defaults,)* }
            }
        }

        impl crate::object::StoredObject for #name {
            const STORED_COLUMNS: &'static [(::core::option::Option<&'static str>, &'static str)] =
                &[#(#stored_columns,)*];
            const COLUMN_NAMES: &'static [&'static str] = &[#(#column_names,)*];
            const DERIVED_FIELDS: &'static [&'static str] = &[#(#derived,)*];
            const KEY: (&'static str, &'static str) = (#key_name, #key_column);

            fn from_layout(
                row: &::sea_orm::QueryResult,
                pre: &str,
                layout: &[crate::object::ColumnAt],
            ) -> ::core::result::Result<Self, ::sea_orm::DbErr> {
                ::core::result::Result::Ok(#name { #(#inits,)* })
            }
        }

        impl ::sea_orm::FromQueryResult for #name {
            fn from_query_result(
                row: &::sea_orm::QueryResult,
                pre: &str,
            ) -> ::core::result::Result<Self, ::sea_orm::DbErr> {
                // Every column by its name: no layout to work out.
                <Self as crate::object::StoredObject>::from_layout(
                    row,
                    pre,
                    &[crate::object::ColumnAt::Named; #stored_count],
                )
            }
        }
    }
}

fn plain_object(name: &Ident, graphql: &LitStr, fields: &[FieldDef]) -> Tokens {
    let arms = fields
        .iter()
        .filter(|f| f.in_output() && !f.graphql_skip)
        .map(|f| {
            let ident = &f.ident;
            let graphql_name = f.graphql_name();
            quote!(#graphql_name => crate::object::plain::PlainValue::plain_value(&self.#ident, ctx, field, out))
        });
    quote! {
        impl crate::object::plain::PlainObject for #name {
            const TYPE_NAME: &'static str = #graphql;

            fn plain_field(
                &self,
                name: &str,
                ctx: &::async_graphql::ContextSelectionSet<'_>,
                field: &::async_graphql::Positioned<::async_graphql::parser::types::Field>,
                out: &mut crate::object::plain::Json,
            ) -> ::core::option::Option<()> {
                match name {
                    "__typename" => crate::object::plain::PlainValue::plain_value(&#graphql, ctx, field, out),
                    #(#arms,)*
                    _ => crate::object::plain::PlainRelations::plain_relation(self, name, ctx, field, out),
                }
            }
        }

        impl crate::object::plain::PlainListItem for #name {
            fn plain_list(
                items: &[Self],
                ctx: &::async_graphql::ContextSelectionSet<'_>,
                field: &::async_graphql::Positioned<::async_graphql::parser::types::Field>,
                out: &mut crate::object::plain::Json,
            ) -> ::core::option::Option<()> {
                crate::object::plain::plain_objects(items, ctx, field, out)
            }
        }
    }
}

fn view_struct(
    parent: &Ident,
    view: &ViewConfig,
    fields: &[&FieldDef],
    writable_object: bool,
) -> Tokens {
    let ViewConfig {
        name,
        schema,
        description,
        ..
    } = view;
    let schema = schema_path(schema);
    let out_fields: Vec<&&FieldDef> = fields.iter().filter(|f| f.in_output()).collect();
    let decls = out_fields.iter().map(|f| {
        let (ident, ty, docs, fvis) = (&f.ident, &f.ty, &f.docs, &f.vis);
        let schema_attr = output_schema_attr(f, writable_object);
        let serde_attr = (!f.serde_attrs.is_empty()).then(|| {
            let parts = &f.serde_attrs;
            quote!(#[serde(#(#parts),*)])
        });
        quote! {
            #(#docs)*
            #schema_attr
            #serde_attr
            #fvis #ident: #ty,
        }
    });
    let moves = out_fields.iter().map(|f| {
        let ident = &f.ident;
        quote!(#ident: from.#ident)
    });
    let clones = out_fields.iter().map(|f| {
        let ident = &f.ident;
        quote!(#ident: ::core::clone::Clone::clone(&from.#ident))
    });
    quote! {
        #[doc = #description]
        #[derive(Clone, Debug, Default, ::serde::Serialize, ::utoipa::ToSchema)]
        #[schema(as = #schema, description = #description)]
        pub struct #name {
            #(#decls)*
        }

        impl ::core::convert::From<#parent> for #name {
            fn from(from: #parent) -> Self {
                #name { #(#moves,)* }
            }
        }

        impl ::core::convert::From<&#parent> for #name {
            fn from(from: &#parent) -> Self {
                #name { #(#clones,)* }
            }
        }
    }
}

/// The types a kind uses: as a front hands it in, once checked, in GraphQL, in OpenAPI.
struct KindTypes {
    raw: Tokens,
    value: Tokens,
    graphql: Tokens,
    schema: Tokens,
}

fn kind_types(field: &FieldDef) -> KindTypes {
    let ty = &field.ty;
    let (raw, value, graphql, schema) = match &field.kind {
        Kind::Text | Kind::Slug => (
            quote!(::std::string::String),
            quote!(::std::string::String),
            quote!(::std::string::String),
            quote!(::std::string::String),
        ),
        Kind::Secret => (
            quote!(::secrecy::SecretString),
            quote!(::secrecy::SecretString),
            quote!(::std::string::String),
            quote!(::std::string::String),
        ),
        Kind::Flag => (quote!(bool), quote!(bool), quote!(bool), quote!(bool)),
        Kind::Number => (quote!(f64), quote!(f64), quote!(f64), quote!(f64)),
        Kind::Choice => (
            quote!(::std::string::String),
            quote!(#ty),
            quote!(#ty),
            quote!(#ty),
        ),
        Kind::Reference => (
            quote!(::std::string::String),
            quote!(::uuid::Uuid),
            quote!(::uuid::Uuid),
            quote!(::uuid::Uuid),
        ),
        Kind::Int32 => (quote!(i64), quote!(i32), quote!(i32), quote!(i32)),
        Kind::Nested(item) => {
            let input = format_ident!("{}Input", item);
            let changes = format_ident!("{}Changes", item);
            let create = format_ident!("{}CreateInput", item);
            let request = format_ident!("{}RequestSchema", item);
            (
                quote!(::std::vec::Vec<crate::object::Field<#input>>),
                quote!(::std::vec::Vec<#changes>),
                quote!(::std::vec::Vec<#create>),
                quote!(::std::vec::Vec<#request>),
            )
        }
        Kind::Plain => unreachable!("read-only fields have no input"),
    };
    KindTypes {
        raw,
        value,
        graphql,
        schema,
    }
}

/// How a REST JSON value becomes the raw input of a field (DRF's field parsing).
fn drf_read(field: &FieldDef) -> Tokens {
    let key = field.name();
    let value = quote!(map.get(#key));
    match &field.kind {
        Kind::Text | Kind::Slug => quote!(crate::object::drf::string(#value)),
        Kind::Secret => quote!(crate::object::drf::secret(#value)),
        Kind::Choice => quote!(crate::object::drf::choice(#value)),
        Kind::Flag => quote!(crate::object::drf::flag(#value)),
        Kind::Number => quote!(crate::object::drf::number(#value)),
        Kind::Int32 => quote!(crate::object::drf::integer(#value)),
        Kind::Reference => quote!(crate::object::drf::reference(#value)),
        Kind::Nested(item) => {
            let input = format_ident!("{}Input", item);
            quote!(crate::object::drf::nested(#value, #input::from_json))
        }
        Kind::Plain => unreachable!(),
    }
}

/// The rule that checks a field's raw input.
fn rule_call(field: &FieldDef) -> Tokens {
    let ident = &field.ident;
    let required = field.required;
    let required = quote!(#required && mode.requires_all());
    let max_length = || {
        field
            .max_length
            .as_ref()
            .map_or_else(|| quote!(crate::limits::MAX_TEXT_CHARS), |m| quote!(#m))
    };
    match &field.kind {
        Kind::Text => {
            let max = max_length();
            quote!(crate::object::rules::text(&self.#ident, #required, #max))
        }
        Kind::Secret => {
            let max = max_length();
            quote!(crate::object::rules::secret_text(&self.#ident, #required, #max))
        }
        Kind::Slug => quote!(crate::object::rules::slug(&self.#ident, #required)),
        Kind::Flag => quote!(crate::object::rules::flag(&self.#ident, #required)),
        Kind::Number => quote!(crate::object::rules::number(&self.#ident, #required)),
        Kind::Choice => quote!(crate::object::rules::choice(&self.#ident, #required)),
        Kind::Reference => quote!(crate::object::rules::reference(&self.#ident, #required)),
        Kind::Int32 => quote!(crate::object::rules::int32(&self.#ident, #required)),
        Kind::Nested(_) => {
            let max = field
                .max_items
                .as_ref()
                .map_or_else(|| quote!(usize::MAX), |m| quote!(#m));
            quote!(crate::object::rules::nested(
                &self.#ident,
                #required,
                #max,
                |item| item.check(crate::object::WriteMode::Replace),
            ))
        }
        Kind::Plain => unreachable!(),
    }
}

/// `#[schema(...)]` of a request field.
fn request_schema_attr(field: &FieldDef, patched: bool) -> Tokens {
    let mut parts: Vec<Tokens> = Vec::new();
    match field.kind {
        Kind::Text | Kind::Secret => parts.push(quote!(min_length = 1)),
        Kind::Slug => parts.push(quote!(
            min_length = 1,
            max_length = 50,
            pattern = "^[-a-zA-Z0-9_]+$"
        )),
        Kind::Int32 => parts.push(quote!(schema_with = crate::object::int32_schema)),
        _ => {}
    }
    if field.kind == Kind::Secret {
        parts.push(quote!(write_only));
    }
    if patched || !field.required {
        parts.push(quote!(required = false));
    }
    if parts.is_empty() {
        Tokens::new()
    } else {
        quote!(#[schema(#(#parts),*)])
    }
}

/// The input side of an object (or of a view): raw input, REST decoding, checks, changes,
/// GraphQL inputs, OpenAPI request schemas. `target` is the output type the changes apply to.
fn input_items(
    base: &Ident,
    target: &Ident,
    fields: &[&FieldDef],
    config: &InputConfig,
    description: &LitStr,
) -> Tokens {
    let input = format_ident!("{}Input", base);
    let changes = format_ident!("{}Changes", base);
    let names: Vec<String> = fields.iter().map(|f| f.name()).collect();
    let idents: Vec<&Ident> = fields.iter().map(|f| &f.ident).collect();
    let types: Vec<KindTypes> = fields.iter().map(|f| kind_types(f)).collect();
    let raws = types.iter().map(|t| &t.raw);
    let values = types.iter().map(|t| &t.value);
    let reads = fields.iter().map(|f| drf_read(f));
    let rules = fields.iter().map(|f| rule_call(f));

    let defaults = fields.iter().filter_map(|f| {
        let ident = &f.ident;
        f.default
            .as_ref()
            .map(|d| quote!(if self.#ident.is_none() { self.#ident = ::core::option::Option::Some(::core::convert::Into::into(#d)); }))
    });
    let columns = fields.iter().filter(|f| !f.is_nested()).map(|f| {
        let ident = &f.ident;
        let column = f.column();
        quote!(if let ::core::option::Option::Some(value) = &self.#ident {
            columns.push((#column, crate::object::ColumnValue::column_value(value)));
        })
    });
    let applies = fields
        .iter()
        .filter(|f| !f.is_nested() && f.in_output())
        .map(|f| {
            let ident = &f.ident;
            quote!(if let ::core::option::Option::Some(value) = &self.#ident {
                target.#ident = ::core::clone::Clone::clone(value);
            })
        });

    let mut out = quote! {
        #[doc = concat!("A write of `", stringify!(#base), "` as a front end read it: one `Field` per writable key.")]
        #[derive(Clone, Debug, Default)]
        pub struct #input {
            #(pub #idents: crate::object::Field<#raws>,)*
        }

        impl #input {
            /// The writable fields, in authentik's order (errors are reported in it).
            pub const FIELDS: &'static [&'static str] = &[#(#names),*];

            /// A DRF request body: each key read as DRF's field reads it; unknown and read-only
            /// keys are ignored.
            pub fn from_json(map: &::serde_json::Map<::std::string::String, ::serde_json::Value>) -> Self {
                #input { #(#idents: #reads,)* }
            }

            /// Every rule at once; every failing field is reported, in field order.
            pub fn check(&self, mode: crate::object::WriteMode) -> ::core::result::Result<#changes, crate::error::FieldErrors> {
                let mut checker = crate::object::rules::Checker::default();
                let changes = #changes { #(#idents: checker.take(#names, #rules),)* };
                checker.finish(changes, Self::FIELDS)
            }
        }

        #[doc = concat!("A checked write of `", stringify!(#base), "`: `None` leaves a field as it is (or at its default).")]
        #[derive(Clone, Debug, Default)]
        pub struct #changes {
            #(pub #idents: ::core::option::Option<#values>,)*
        }

        impl #changes {
            /// The declared defaults for every field left out (a create).
            pub fn with_defaults(mut self) -> Self {
                #(#defaults)*
                self
            }

            /// The changed columns, by column name, as the database stores them.
            pub fn columns(&self) -> ::std::vec::Vec<(&'static str, ::sea_orm::Value)> {
                let mut columns = ::std::vec::Vec::new();
                #(#columns)*
                columns
            }

            /// Applies the changed fields to an object as it is shown.
            pub fn apply_to(&self, target: &mut #target) {
                #(#applies)*
            }
        }
    };

    if let Some(create_name) = &config.create {
        let create = format_ident!("{}CreateInput", base);
        let update = format_ident!("{}UpdateInput", base);
        let docs: Vec<Tokens> = fields
            .iter()
            .map(|f| {
                let docs = &f.docs;
                if f.kind == Kind::Secret {
                    quote!(#(#docs)* #[doc = ""] #[doc = "Write-only: it is never returned."])
                } else {
                    quote!(#(#docs)*)
                }
            })
            .collect();
        let create_fields = fields.iter().zip(&types).zip(&docs).map(|((f, t), d)| {
            let (ident, graphql) = (&f.ident, &t.graphql);
            if f.required {
                quote!(#d pub #ident: #graphql,)
            } else {
                quote!(#d pub #ident: ::core::option::Option<#graphql>,)
            }
        });
        let create_into = fields.iter().map(|f| {
            let ident = &f.ident;
            if f.required {
                quote!(#ident: crate::object::Field::Given(crate::object::IntoRaw::into_raw(input.#ident)))
            } else {
                quote!(#ident: crate::object::Field::from(input.#ident).map(crate::object::IntoRaw::into_raw))
            }
        });
        out.extend(quote! {
            #[doc = #description]
            #[derive(::async_graphql::InputObject)]
            #[graphql(name = #create_name, rename_fields = "camelCase")]
            pub struct #create {
                #(#create_fields)*
            }

            impl ::core::convert::From<#create> for #input {
                fn from(input: #create) -> Self {
                    #input { #(#create_into,)* }
                }
            }
        });
        if let Some(update_name) = &config.update {
            let update_fields = fields.iter().zip(&types).zip(&docs).map(|((f, t), d)| {
                let (ident, graphql) = (&f.ident, &t.graphql);
                quote!(#d pub #ident: ::core::option::Option<#graphql>,)
            });
            out.extend(quote! {
                #[doc = #description]
                #[doc = ""]
                #[doc = "Only the fields given change; `null` counts as not given."]
                #[derive(::async_graphql::InputObject)]
                #[graphql(name = #update_name, rename_fields = "camelCase")]
                pub struct #update {
                    #(#update_fields)*
                }

                impl ::core::convert::From<#update> for #input {
                    fn from(input: #update) -> Self {
                        #input { #(#idents: crate::object::Field::from(input.#idents).map(crate::object::IntoRaw::into_raw),)* }
                    }
                }
            });
        }
    }

    let mut request_schema = |schema_name: &LitStr, rust: Ident, patched: bool| {
        let schema_name = schema_path(schema_name);
        let decls = fields.iter().zip(&types).map(|(f, t)| {
            let (ident, schema_ty, docs) = (&f.ident, &t.schema, &f.docs);
            let attr = request_schema_attr(f, patched);
            quote!(#(#docs)* #attr #ident: #schema_ty,)
        });
        out.extend(quote! {
            #[doc = #description]
            #[derive(::utoipa::ToSchema)]
            #[schema(as = #schema_name, description = #description)]
            #[allow(dead_code)]
            pub struct #rust {
                #(#decls)*
            }
        });
    };
    if let Some(rest) = &config.rest {
        request_schema(rest, format_ident!("{}RequestSchema", base), false);
    }
    if let Some(patched) = &config.patched {
        request_schema(patched, format_ident!("{}PatchedRequestSchema", base), true);
    }
    out
}
